package querier

import (
	"context"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestTenantUsage: every admitted query counts for its tenant, with the
// samples the engine read, whether or not the tenant has a samples limit.
func TestTenantUsage(t *testing.T) {
	end := time.Now().Truncate(time.Second)
	c := newCluster(t, 1)
	pushTestData(t, c, "team-a", 3, 1, end) // 3 series × 41 samples, 15s apart.
	for name, samplesLimit := range map[string]int{"without a samples limit": 0, "with a samples limit": 1000} {
		t.Run(name, func(t *testing.T) {
			l := defaultLimits()
			l.MaxSamplesPerQuery = samplesLimit
			api := startLimitedAPI(t, c, l)
			client := apiClient(t, api.base, "team-a")
			_, _, _, err := client.Query(context.Background(), "up", end)
			require.NoError(t, err)
			_, _, _, err = client.QueryRange(context.Background(), "sum(up)", promv1.Range{Start: end.Add(-10 * time.Minute), End: end, Step: 15 * time.Second})
			require.NoError(t, err)
			m := api.q.queryable.metrics
			require.InDelta(t, 1.0, testutil.ToFloat64(m.tenantQueries.WithLabelValues("team-a", "query")), 0)
			require.InDelta(t, 1.0, testutil.ToFloat64(m.tenantQueries.WithLabelValues("team-a", "query_range")), 0)
			// The instant query reads 3 samples, the range query 3 × 41.
			require.InDelta(t, 3.0+3*41, testutil.ToFloat64(m.tenantSamplesRead.WithLabelValues("team-a")), 0)

			api.q.CountRuleEvaluation("team-a", 2)
			require.InDelta(t, 2.0, testutil.ToFloat64(m.ruleEvaluations.WithLabelValues("team-a")), 0)
		})
	}
}

package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestTenantsNeverSeeEachOther pushes identical series for two tenants
// with different values and checks every read path of the wired
// all-in-one, before and after the data is flushed to the store (read
// twice there, so the second read comes from the caches).
func TestTenantsNeverSeeEachOther(t *testing.T) {
	p := startProcess(t, TargetAll, "-querier.query-store-after=0")
	now := time.Now().Truncate(time.Second)
	for tenantID, v := range map[string]float64{"team-a": 1, "team-b": 2} {
		req := seriesRequest(3, now.Add(-time.Minute))
		for i := range req.Timeseries {
			req.Timeseries[i].Samples[0].Value = v
		}
		req.Metadata = []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "limited", Help: "help of " + tenantID}}
		require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), tenantID, req).StatusCode)
	}
	// Only team-a has this one.
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "only_a"}, {Name: "secret", Value: "a"}},
		Samples: []prompb.Sample{{Value: 9, Timestamp: now.Add(-time.Minute).UnixMilli()}},
	}}}).StatusCode)

	ctx := context.Background()
	check := func(t *testing.T) {
		t.Helper()
		for tenantID, want := range map[string]float64{"team-a": 3, "team-b": 6} {
			api := queryAPI(t, p.app.HTTPAddr(), tenantID)
			v, _, _, err := api.Query(ctx, "sum(limited)", now)
			require.NoError(t, err)
			require.Equal(t, model.SampleValue(want), v.(model.Vector)[0].Value, tenantID)

			m, _, _, err := api.QueryRange(ctx, "sum(limited)", promv1.Range{Start: now.Add(-time.Minute), End: now, Step: 15 * time.Second})
			require.NoError(t, err)
			for _, s := range m.(model.Matrix)[0].Values {
				require.Equal(t, model.SampleValue(want), s.Value, tenantID)
			}

			series, _, _, err := api.Series(ctx, []string{`{__name__=~".+"}`}, now.Add(-time.Hour), now)
			require.NoError(t, err)
			names, _, _, err := api.LabelNames(ctx, nil, now.Add(-time.Hour), now)
			require.NoError(t, err)
			values, _, _, err := api.LabelValues(ctx, "__name__", nil, now.Add(-time.Hour), now)
			require.NoError(t, err)
			if tenantID == "team-a" {
				require.Len(t, series, 4)
				require.Contains(t, names, model.LabelName("secret"))
				require.Equal(t, model.LabelValues{"limited", "only_a"}, values)
			} else {
				require.Len(t, series, 3)
				require.NotContains(t, names, model.LabelName("secret"))
				require.Equal(t, model.LabelValues{"limited"}, values)
			}
		}
		md, err := queryAPI(t, p.app.HTTPAddr(), "team-b").Metadata(ctx, "limited", "")
		require.NoError(t, err)
		require.Equal(t, "help of team-b", md["limited"][0].Help)
	}
	t.Run("from the ingester", check)

	token := p.app.operatorToken.Token.Reveal()
	r, err := http.NewRequest(http.MethodPost, "http://"+p.app.InternalAddr()+"/ingester/flush", nil)
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Positive(t, gatherSum(t, p, "hearth_ingester_flushed_blocks_total"))

	t.Run("from the store and the ingester", check)
	t.Run("again, through the store's caches", check)
	// The all-in-one answers the API through its query frontend.
	require.Positive(t, gatherSum(t, p, "hearth_query_frontend_queries_total"))
}

package ingester

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestInstanceLimitsRefusePushes(t *testing.T) {
	one := func(ts int64) ingesterpb.TimeSeries {
		return withSamples(series("__name__", "up"), ingesterpb.Sample{TimestampMs: ts, Value: 1})
	}
	tests := map[string]struct {
		limits InstanceLimits
		// refused sets up the state in which a push of tenant "b" is
		// refused; it returns a function that undoes it.
		refused func(t *testing.T, env *testEnv) (undo func())
		reason  string
		wantErr string
	}{
		"a push over the in-flight limit": {
			limits: InstanceLimits{MaxInflightPushRequests: 1},
			refused: func(t *testing.T, env *testEnv) func() {
				// A push of tenant "a" waits for its DB, held by the test.
				push(t, env, "a", one(1))
				tdb := env.ing.dbs.get("a")
				tdb.mu.Lock()
				done := make(chan error, 1)
				go func() {
					_, err := env.client.Push(ctxFor("a"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{one(2)}})
					done <- err
				}()
				require.Eventually(t, func() bool {
					return metricValue(t, env.reg, "hearth_ingester_inflight_push_requests") == 1
				}, 10*time.Second, time.Millisecond)
				return func() {
					tdb.mu.Unlock()
					require.NoError(t, <-done)
				}
			},
			reason:  reasonInflight,
			wantErr: `this ingester holds its limit of 1 push requests in flight (-ingester.instance-limits.max-inflight-push-requests); push of tenant "b" refused, retry later`,
		},
		"a new tenant over the tenant limit": {
			limits: InstanceLimits{MaxTenants: 1},
			refused: func(t *testing.T, env *testEnv) func() {
				push(t, env, "a", one(1))
				return func() { require.NoError(t, env.ing.DeleteTenant(t.Context(), "a")) }
			},
			reason:  reasonTenants,
			wantErr: `this ingester holds its limit of 1 tenants (-ingester.instance-limits.max-tenants); push of tenant "b" refused, retry later`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()),
				withConfig(func(c *Config) { c.InstanceLimits = tc.limits }))
			undo := tc.refused(t, env)
			_, err := env.client.Push(ctxFor("b"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{one(1)}})
			require.Equal(t, codes.Unavailable, status.Code(err), "retryable: %v", err)
			require.Equal(t, tc.wantErr, status.Convert(err).Message())
			require.Equal(t, 1.0, metricValue(t, env.reg, "hearth_ingester_rejected_pushes_total", "reason", tc.reason))
			undo()
			push(t, env, "b", one(1))
			require.Zero(t, metricValue(t, env.reg, "hearth_ingester_inflight_push_requests"))
		})
	}
}

package ingester

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestPushQueryRoundTrip(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	resp := push(t, env, "team-a",
		withSamples(series("__name__", "up", "job", "api"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}, ingesterpb.Sample{TimestampMs: 2000, Value: 0}),
		withSamples(series("__name__", "up", "job", "db"), ingesterpb.Sample{TimestampMs: 1000, Value: 1}),
		withSamples(series("__name__", "requests_total", "job", "api"), ingesterpb.Sample{TimestampMs: 1500, Value: 42}),
	)
	require.Empty(t, resp.Errors)

	got, _ := queryAll(t, env, "team-a", &ingesterpb.QueryRequest{StartMs: 0, EndMs: 5000, Matchers: []ingesterpb.LabelMatcher{
		{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "__name__", Value: "up"},
	}})
	require.Len(t, got, 2)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}, {TimestampMs: 2000, Value: 0}}, got["up/api"].samples)
	require.Equal(t, []ingesterpb.Chunk_Encoding{ingesterpb.Chunk_ENCODING_XOR}, got["up/api"].encodings)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}}, got["up/db"].samples)

	// skip_chunks returns labels only.
	labelsOnly, _ := queryAll(t, env, "team-a", &ingesterpb.QueryRequest{StartMs: 0, EndMs: 5000, SkipChunks: true})
	require.Len(t, labelsOnly, 3)
	require.Empty(t, labelsOnly["requests_total/api"].encodings)

	ctx := ctxFor("team-a")
	names, err := env.client.LabelNames(ctx, &ingesterpb.LabelNamesRequest{StartMs: 0, EndMs: 5000})
	require.NoError(t, err)
	require.Equal(t, []string{"__name__", "job"}, names.Names)

	values, err := env.client.LabelValues(ctx, &ingesterpb.LabelValuesRequest{Name: "job", StartMs: 0, EndMs: 5000, Matchers: []ingesterpb.LabelMatcher{
		{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "__name__", Value: "up"},
	}})
	require.NoError(t, err)
	require.Equal(t, []string{"api", "db"}, values.Values)

	limited, err := env.client.LabelValues(ctx, &ingesterpb.LabelValuesRequest{Name: "__name__", StartMs: 0, EndMs: 5000, Limit: 1})
	require.NoError(t, err)
	require.Len(t, limited.Values, 1)

	sr, err := env.client.Series(ctx, &ingesterpb.SeriesRequest{StartMs: 0, EndMs: 5000, MatcherSets: []ingesterpb.MatcherSet{
		{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_EQ, Name: "job", Value: "db"}}},
		{Matchers: []ingesterpb.LabelMatcher{{Type: ingesterpb.LabelMatcher_TYPE_RE, Name: "__name__", Value: "req.*"}}},
	}})
	require.NoError(t, err)
	require.Len(t, sr.Series, 2)
	require.Equal(t, "requests_total", sr.Series[0].Labels[0].Value)
	require.Equal(t, "up", sr.Series[1].Labels[0].Value)

	stats, err := env.client.TenantStats(ctx, &ingesterpb.TenantStatsRequest{})
	require.NoError(t, err)
	require.Equal(t, uint64(3), stats.Stats.NumSeries)

	_, err = env.client.LabelNames(ctx, &ingesterpb.LabelNamesRequest{Matchers: []ingesterpb.LabelMatcher{
		{Type: ingesterpb.LabelMatcher_TYPE_RE, Name: "job", Value: "("},
	}})
	require.Equal(t, codes.InvalidArgument, status.Code(err))
}

func TestTenantsKeepSeparateData(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	same := series("__name__", "up", "job", "api")
	push(t, env, "team-a", withSamples(same, ingesterpb.Sample{TimestampMs: 1000, Value: 1}))
	push(t, env, "team-b", withSamples(same, ingesterpb.Sample{TimestampMs: 1000, Value: 2}))

	a, _ := queryAll(t, env, "team-a", allSeries())
	b, _ := queryAll(t, env, "team-b", allSeries())
	c, _ := queryAll(t, env, "team-c", allSeries())
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}}, a["up/api"].samples)
	require.Equal(t, []ingesterpb.Sample{{TimestampMs: 1000, Value: 2}}, b["up/api"].samples)
	require.Empty(t, c)

	all, err := env.client.AllTenantStats(context.Background(), &ingesterpb.AllTenantStatsRequest{})
	require.NoError(t, err)
	require.Len(t, all.Tenants, 2)
	require.Equal(t, "team-a", all.Tenants[0].Tenant)
	require.Equal(t, uint64(1), all.Tenants[1].Stats.NumSeries)
}

func TestPushOutOfOrderAndDuplicates(t *testing.T) {
	const minute = int64(60_000)
	base := int64(10 * 60 * minute)
	tests := map[string]struct {
		oooWindow   time.Duration
		first       []ingesterpb.Sample
		second      []ingesterpb.Sample
		wantErrors  map[string]uint64
		wantSamples []int64 // timestamps stored
	}{
		"in order": {
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base + minute, Value: 2}},
			wantSamples: []int64{base, base + minute},
		},
		"out of order without a window is refused": {
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base - minute, Value: 2}, {TimestampMs: base - 2*minute, Value: 2}},
			wantErrors:  map[string]uint64{"sample_out_of_order": 2},
			wantSamples: []int64{base},
		},
		"out of order within one request is refused": {
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base + 2*minute, Value: 2}, {TimestampMs: base + minute, Value: 2}, {TimestampMs: base + 2*minute, Value: 2}, {TimestampMs: base + 2*minute, Value: 3}},
			wantErrors:  map[string]uint64{"sample_out_of_order": 1, "new_value_for_timestamp": 1},
			wantSamples: []int64{base, base + 2*minute},
		},
		"same timestamp and value is a silent duplicate": {
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			wantSamples: []int64{base},
		},
		"same timestamp with another value is refused": {
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base, Value: 2}, {TimestampMs: base + minute, Value: 3}},
			wantErrors:  map[string]uint64{"new_value_for_timestamp": 1},
			wantSamples: []int64{base, base + minute},
		},
		"out of order within the window is accepted": {
			oooWindow:   time.Hour,
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base - 10*minute, Value: 2}},
			wantSamples: []int64{base - 10*minute, base},
		},
		"older than the window is too old": {
			oooWindow:   10 * time.Minute,
			first:       []ingesterpb.Sample{{TimestampMs: base, Value: 1}},
			second:      []ingesterpb.Sample{{TimestampMs: base - 30*minute, Value: 2}, {TimestampMs: base - 5*minute, Value: 3}},
			wantErrors:  map[string]uint64{"sample_too_old": 1},
			wantSamples: []int64{base - 5*minute, base},
		},
	}
	overrides := limits.NewOverrides(defaultLimits())
	perTenant := map[tenant.ID]*limits.Limits{}
	k := 0
	names := map[string]string{}
	for name, tc := range tests {
		k++
		id := tenant.ID("ooo-" + strings.Repeat("x", k))
		names[name] = string(id)
		l := defaultLimits()
		l.OutOfOrderTimeWindow = model.Duration(tc.oooWindow)
		perTenant[id] = &l
	}
	overrides.Set(perTenant)
	env := startIngester(t, t.TempDir(), overrides)

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id := names[name]
			s := series("__name__", "m", "job", "j")
			require.Empty(t, push(t, env, id, withSamples(s, tc.first...)).Errors)
			resp := push(t, env, id, withSamples(s, tc.second...))
			got := map[string]uint64{}
			for _, e := range resp.Errors {
				got[e.Reason] = e.Samples
				require.False(t, e.Retryable)
				require.Contains(t, e.Message, `__name__=\"m\"`)
			}
			if tc.wantErrors == nil {
				tc.wantErrors = map[string]uint64{}
			}
			require.Equal(t, tc.wantErrors, got)

			res, _ := queryAll(t, env, id, allSeries())
			var stored []int64
			for _, smp := range res["m/j"].samples {
				stored = append(stored, smp.TimestampMs)
			}
			require.Equal(t, tc.wantSamples, stored)
		})
	}
}

func TestSeriesLimits(t *testing.T) {
	tests := map[string]struct {
		limits     func(*limits.Limits)
		ring       RingInfo
		push       []ingesterpb.TimeSeries
		wantErrors map[string]uint64
		wantSeries uint64
	}{
		"per-tenant limit": {
			limits: func(l *limits.Limits) { l.MaxSeriesPerTenant = 2 },
			push: []ingesterpb.TimeSeries{
				withSamples(series("__name__", "a"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "b"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "c"), ingesterpb.Sample{TimestampMs: 1, Value: 1}, ingesterpb.Sample{TimestampMs: 2, Value: 1}),
				withSamples(series("__name__", "a"), ingesterpb.Sample{TimestampMs: 2, Value: 1}),
			},
			wantErrors: map[string]uint64{"per_tenant_series_limit": 2},
			wantSeries: 2,
		},
		"per-metric limit": {
			limits: func(l *limits.Limits) { l.MaxSeriesPerMetric = 1 },
			push: []ingesterpb.TimeSeries{
				withSamples(series("__name__", "a", "i", "1"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "a", "i", "2"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "b", "i", "1"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
			},
			wantErrors: map[string]uint64{"per_metric_series_limit": 1},
			wantSeries: 2,
		},
		"global per-tenant limit is shared across healthy ingesters": {
			// 4 × RF 3 ÷ 6 ingesters = 2 per ingester.
			limits: func(l *limits.Limits) { l.MaxGlobalSeriesPerTenant = 4 },
			ring:   fakeRing{healthy: 6, rf: 3},
			push: []ingesterpb.TimeSeries{
				withSamples(series("__name__", "a"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "b"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "c"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
			},
			wantErrors: map[string]uint64{"per_tenant_series_limit": 1},
			wantSeries: 2,
		},
		"the local limit wins when stricter than the global share": {
			limits: func(l *limits.Limits) { l.MaxGlobalSeriesPerMetric = 100; l.MaxSeriesPerMetric = 1 },
			ring:   fakeRing{healthy: 1, rf: 1},
			push: []ingesterpb.TimeSeries{
				withSamples(series("__name__", "a", "i", "1"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "a", "i", "2"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
			},
			wantErrors: map[string]uint64{"per_metric_series_limit": 1},
			wantSeries: 1,
		},
		"no ring: global limits are ignored": {
			limits: func(l *limits.Limits) { l.MaxGlobalSeriesPerTenant = 1 },
			push: []ingesterpb.TimeSeries{
				withSamples(series("__name__", "a"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
				withSamples(series("__name__", "b"), ingesterpb.Sample{TimestampMs: 1, Value: 1}),
			},
			wantSeries: 2,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := defaultLimits()
			tc.limits(&l)
			var opts []envOption
			if tc.ring != nil {
				opts = append(opts, withRing(tc.ring))
			}
			env := startIngester(t, t.TempDir(), limits.NewOverrides(l), opts...)
			resp := push(t, env, "t", tc.push...)
			got := map[string]uint64{}
			for _, e := range resp.Errors {
				got[e.Reason] = e.Samples
				require.Contains(t, e.Message, `tenant "t"`)
				require.Contains(t, e.Message, "-ingester.")
			}
			if tc.wantErrors == nil {
				tc.wantErrors = map[string]uint64{}
			}
			require.Equal(t, tc.wantErrors, got)
			stats, err := env.client.TenantStats(ctxFor("t"), &ingesterpb.TenantStatsRequest{})
			require.NoError(t, err)
			require.Equal(t, tc.wantSeries, stats.Stats.NumSeries)
		})
	}
}

func TestMetadata(t *testing.T) {
	l := defaultLimits()
	l.MaxMetadataPerMetric = 2
	l.MaxMetadataPerTenant = 3
	env := startIngester(t, t.TempDir(), limits.NewOverrides(l))
	md := func(name, help string) ingesterpb.MetricMetadata {
		return ingesterpb.MetricMetadata{Type: ingesterpb.MetricMetadata_METRIC_TYPE_COUNTER, MetricFamilyName: name, Help: help}
	}
	resp, err := env.client.Push(ctxFor("t"), &ingesterpb.PushRequest{Metadata: []ingesterpb.MetricMetadata{
		md("a", "one"), md("a", "one"), md("a", "two"), md("a", "three"), md("b", "one"), md("c", "one"),
	}})
	require.NoError(t, err)
	got := map[string]uint64{}
	for _, e := range resp.Errors {
		got[e.Reason] = e.Samples
	}
	require.Equal(t, map[string]uint64{"per_metric_metadata_limit": 1, "per_tenant_metadata_limit": 1}, got)
	for _, e := range resp.Errors {
		// The distributor counts these as metadata refusals, not series'.
		require.True(t, ingesterpb.IsMetadataReason(e.Reason), e.Reason)
	}

	tests := map[string]struct {
		req  *ingesterpb.MetricMetadataRequest
		want []string
	}{
		"all":                {req: &ingesterpb.MetricMetadataRequest{}, want: []string{"a/one", "a/two", "b/one"}},
		"one metric":         {req: &ingesterpb.MetricMetadataRequest{Metric: "b"}, want: []string{"b/one"}},
		"unknown metric":     {req: &ingesterpb.MetricMetadataRequest{Metric: "z"}},
		"limit":              {req: &ingesterpb.MetricMetadataRequest{Limit: 1}, want: []string{"a/one", "a/two"}},
		"limit per metric":   {req: &ingesterpb.MetricMetadataRequest{LimitPerMetric: 1}, want: []string{"a/one", "b/one"}},
		"other tenant empty": {req: &ingesterpb.MetricMetadataRequest{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			id := "t"
			if name == "other tenant empty" {
				id = "u"
			}
			resp, err := env.client.MetricMetadata(ctxFor(id), tc.req)
			require.NoError(t, err)
			var got []string
			for _, m := range resp.Metadata {
				got = append(got, m.MetricFamilyName+"/"+m.Help)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTenantRequired(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	ctx := context.Background()
	_, err := env.client.Push(ctx, &ingesterpb.PushRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = env.client.LabelNames(ctx, &ingesterpb.LabelNamesRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = env.client.TenantStats(ctx, &ingesterpb.TenantStatsRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	stream, err := env.client.QueryStream(ctx, allSeries())
	require.NoError(t, err)
	_, err = stream.Recv()
	require.Equal(t, codes.Unauthenticated, status.Code(err))
	_, err = env.client.AllTenantStats(ctx, &ingesterpb.AllTenantStatsRequest{})
	require.NoError(t, err)
}

func TestNotRunningIsUnavailable(t *testing.T) {
	l := defaultLimits()
	ing, err := New(Deps{Config: defaultConfig(t.TempDir()), Logger: discardLogger(), Registerer: newRegistry(), Overrides: limits.NewOverrides(l)})
	require.NoError(t, err)
	_, err = ing.Push(ctxFor("t"), &ingesterpb.PushRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err))
	_, err = ing.LabelNames(ctxFor("t"), &ingesterpb.LabelNamesRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err))
}

func TestHealthServesOnlyWhileRunning(t *testing.T) {
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()))
	resp, err := env.ing.health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: serviceName})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status)

	env.stop()
	resp, err = env.ing.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, resp.Status)
}

// TestInstanceSeriesLimit: the ingester-wide series limit counts every
// tenant, refuses new series with a retryable error naming the flag, and
// frees its room when a tenant goes away.
func TestInstanceSeriesLimit(t *testing.T) {
	withMax := func(d *Deps, _ *Ingester) { d.Config.InstanceLimits.MaxSeries = 3 }
	env := startIngester(t, t.TempDir(), limits.NewOverrides(defaultLimits()), withMax)
	one := func(name string) ingesterpb.TimeSeries {
		return withSamples(series("__name__", name), ingesterpb.Sample{TimestampMs: 1, Value: 1})
	}
	require.Empty(t, push(t, env, "a", one("x"), one("y")).Errors)

	resp := push(t, env, "b", one("x"), one("y"), one("z"))
	require.Len(t, resp.Errors, 1)
	e := resp.Errors[0]
	require.Equal(t, "instance_series_limit", e.Reason)
	require.True(t, e.Retryable, "an instance limit may pass later: the sender must retry")
	require.Equal(t, uint64(2), e.Samples)
	require.Contains(t, e.Message, "-ingester.instance-limits.max-series")

	// Existing series still take samples at the limit.
	require.Empty(t, push(t, env, "a", withSamples(series("__name__", "x"), ingesterpb.Sample{TimestampMs: 2, Value: 1})).Errors)

	require.NoError(t, env.ing.DeleteTenant(context.Background(), "a"))
	require.Empty(t, push(t, env, "b", one("y"), one("z")).Errors)
}

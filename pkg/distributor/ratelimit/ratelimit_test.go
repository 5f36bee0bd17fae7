package ratelimit

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

type fakeDistributors struct{ n int }

func (f *fakeDistributors) HealthyInstancesCount() int { return f.n }

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func defaultsWith(rate float64, burst int) limits.Limits {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	l.IngestionRate, l.IngestionBurstSize = rate, burst
	return l
}

// push builds a request of n float samples (plus one exemplar and one
// histogram when extra is set).
func push(n int, extra bool) *ingesterpb.PushRequest {
	ts := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "up"}}}
	for i := range n {
		ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: int64(i)})
	}
	if extra {
		ts.Exemplars = []ingesterpb.Exemplar{{}}
		ts.Histograms = []ingesterpb.Histogram{{}}
	}
	return &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{ts}}
}

func TestLimiter(t *testing.T) {
	type step struct {
		after   time.Duration // clock advance before the push
		tenant  tenant.ID     // "" is "a"
		samples int
		extra   bool // one histogram and one exemplar more
		// set, when not nil, replaces the overrides before the push.
		set          map[tenant.ID]*limits.Limits
		distributors int // when not 0, the healthy distributors from now on
		wantWait     time.Duration
		wantRefused  bool
	}
	lim := func(rate float64, burst int) *limits.Limits { l := defaultsWith(rate, burst); return &l }
	tests := map[string]struct {
		strategy string
		defaults limits.Limits
		steps    []step
	}{
		"within the burst": {
			defaults: defaultsWith(10, 100),
			steps:    []step{{samples: 60}, {samples: 40}},
		},
		"over the burst waits for the refill": {
			defaults: defaultsWith(10, 100),
			steps: []step{
				{samples: 100},
				{samples: 20, wantRefused: true, wantWait: 2 * time.Second},
				{after: time.Second, samples: 20, wantRefused: true, wantWait: time.Second},
				{after: time.Second, samples: 20},
			},
		},
		"histograms and exemplars count": {
			defaults: defaultsWith(10, 100),
			steps:    []step{{samples: 98, extra: true}, {samples: 1, wantRefused: true, wantWait: 100 * time.Millisecond}},
		},
		"metadata only is free": {
			defaults: defaultsWith(10, 1),
			steps:    []step{{samples: 1}, {samples: 0}},
		},
		"tenants have their own buckets": {
			defaults: defaultsWith(10, 100),
			steps:    []step{{samples: 100}, {tenant: "b", samples: 100}, {tenant: "b", samples: 1, wantRefused: true, wantWait: 100 * time.Millisecond}},
		},
		"a push larger than the burst never passes": {
			defaults: defaultsWith(10, 100),
			steps:    []step{{samples: 101, wantRefused: true, wantWait: 10 * time.Second}},
		},
		"an override applies to the next push": {
			defaults: defaultsWith(10, 100),
			steps: []step{
				{samples: 100},
				{samples: 50, wantRefused: true, wantWait: 5 * time.Second},
				{set: map[tenant.ID]*limits.Limits{"a": lim(100, 1000)}, samples: 50, wantRefused: true, wantWait: 500 * time.Millisecond},
				{after: 500 * time.Millisecond, samples: 50},
				{samples: 900, wantRefused: true, wantWait: 9 * time.Second},
			},
		},
		"local ignores the distributors": {
			strategy: StrategyLocal, defaults: defaultsWith(10, 100),
			steps: []step{{distributors: 5, samples: 100}, {after: time.Second, samples: 10}},
		},
		"global divides the rate, not the burst": {
			strategy: StrategyGlobal, defaults: defaultsWith(10, 100),
			steps: []step{
				{distributors: 5, samples: 100},
				{after: time.Second, samples: 10, wantRefused: true, wantWait: 4 * time.Second},
				{after: 4 * time.Second, samples: 10},
				{distributors: 1, after: time.Second, samples: 10, wantRefused: true, wantWait: 800 * time.Millisecond}, // 2 tokens, 8 more at 10/s
			},
		},
		"global with no healthy distributor enforces the whole rate": {
			strategy: StrategyGlobal, defaults: defaultsWith(10, 100),
			steps: []step{{distributors: -1, samples: 100}, {after: time.Second, samples: 10}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			dists := &fakeDistributors{n: 1}
			o := limits.NewOverrides(tc.defaults)
			strategy := tc.strategy
			if strategy == "" {
				strategy = StrategyLocal
			}
			l, err := New(Deps{Config: Config{Strategy: strategy}, Limits: o, Distributors: dists, Now: c.now})
			require.NoError(t, err)
			for i, s := range tc.steps {
				c.advance(s.after)
				if s.set != nil {
					o.Set(s.set)
				}
				if s.distributors != 0 {
					dists.n = max(s.distributors, 0)
				}
				id := s.tenant
				if id == "" {
					id = "a"
				}
				err := l.BeforePush(context.Background(), id, push(s.samples, s.extra))
				if !s.wantRefused {
					require.NoErrorf(t, err, "step %d", i)
					continue
				}
				var rl *RateLimitedError
				require.ErrorAsf(t, err, &rl, "step %d", i)
				require.ErrorIs(t, err, remotewrite.ErrRateLimited)
				require.Equal(t, id, rl.Tenant)
				require.Equal(t, Reason, rl.Reason())
				require.Equalf(t, s.wantWait, rl.RetryAfter(), "step %d", i)
				require.Contains(t, err.Error(), "tenant "+string(id))
				require.Contains(t, err.Error(), "burst")
			}
		})
	}
}

func TestRateLimitedAnswer(t *testing.T) {
	err := &RateLimitedError{Tenant: "a", Limit: 10, Burst: 100, Samples: 20, Wait: 1500 * time.Millisecond}
	rec := httptest.NewRecorder()
	remotewrite.WriteError(rec, err)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "2", rec.Header().Get("Retry-After"))
	require.Contains(t, rec.Body.String(), "ingestion rate limit (10 samples/s, burst 100) exceeded for tenant a")
}

func TestNewValidates(t *testing.T) {
	o := limits.NewOverrides(defaultsWith(1, 1))
	_, err := New(Deps{Config: Config{Strategy: "nope"}, Limits: o})
	require.ErrorContains(t, err, `"nope"`)
	_, err = New(Deps{Config: Config{Strategy: StrategyGlobal}, Limits: o})
	require.ErrorContains(t, err, "distributor ring")
}

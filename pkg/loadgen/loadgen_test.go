package loadgen

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig returns the flag defaults with url set, no live line, and
// the given changes applied.
func testConfig(t testing.TB, url string, change func(*Config)) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	cfg.URL = url
	cfg.LiveEvery = 0
	cfg.Duration = time.Minute
	change(&cfg)
	require.NoError(t, cfg.Validate())
	return cfg
}

func run(t testing.TB, cfg Config) *Summary {
	t.Helper()
	sum, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	require.NoError(t, err)
	return sum
}

func TestRunSeriesShape(t *testing.T) {
	for _, proto := range []Protocol{ProtocolRW1, ProtocolRW2} {
		t.Run(string(proto), func(t *testing.T) {
			recv, url := newReceiver(t, nil)
			const rounds = 3
			cfg := testConfig(t, url, func(c *Config) {
				c.Protocol = proto
				c.Tenants = 2
				c.Series = 1000 // 500 counters, 500 gauges
				c.NativeHistograms = 20
				c.ClassicHistograms = 10
				c.LabelCount = 3
				c.BatchSize = 100
				c.MaxRate = true
				c.Concurrency = 1
				c.Jitter = 2 * time.Second
			})
			perRound := len(plan(&cfg))
			cfg.Requests = rounds * perRound
			sum := run(t, cfg)

			wantSeries := 1000 + 20 + 10*classicSeries
			require.Equal(t, wantSeries, sum.SeriesPerTenant)
			require.Equal(t, uint64(rounds*2*wantSeries), sum.SamplesAccepted)
			require.Equal(t, uint64(rounds*perRound), sum.Requests)
			require.Equal(t, rounds*2*wantSeries, recv.samples)
			require.Equal(t, rounds*perRound, recv.requests)
			require.Zero(t, sum.Retries)
			require.Zero(t, sum.SamplesDropped)

			for _, tenant := range []string{"loadgen-0", "loadgen-1"} {
				series := recv.tenantSeries(tenant)
				require.Len(t, series, wantSeries)
				require.Equal(t, 100, recv.selectSeries(tenant, "__name__", "loadgen_counter_0_total", "cardinality_1e2", "0"))
				require.Equal(t, 10, recv.selectSeries(tenant, "__name__", "loadgen_gauge_0", "cardinality_1e1", "3"))
				require.Equal(t, 500, recv.selectSeries(tenant, "__name__", "loadgen_gauge_0", "cardinality_1e3", "0"))
				require.Equal(t, 10, recv.selectSeries(tenant, "__name__", "loadgen_histogram_0_bucket", "le", "+Inf"))
				for key, points := range series {
					ls := recv.lbls[key]
					wantLabels := 3 + cardinalityLevels + cfg.LabelCount // __name__, cycle_id, series_id
					if ls.Has("le") {
						wantLabels++
					}
					require.Equal(t, wantLabels, ls.Len(), key)
					require.Len(t, points, rounds, key)
					for i, p := range points {
						tick := points[0].t - jitterOf(points[0].t, cfg.Interval) + int64(i)*cfg.Interval.Milliseconds()
						require.InDelta(t, tick, p.t, float64(cfg.Jitter.Milliseconds()), key)
					}
					name := ls.Get("__name__")
					switch {
					case strings.HasPrefix(name, "loadgen_counter_"):
						for i := 1; i < len(points); i++ {
							require.GreaterOrEqual(t, points[i].v, points[i-1].v, key)
						}
					case strings.HasPrefix(name, "loadgen_native_histogram_"):
						for i, p := range points {
							require.NotNil(t, p.h, key)
							require.NoError(t, p.h.Validate(), key)
							if i > 0 {
								require.GreaterOrEqual(t, p.h.Count, points[i-1].h.Count, key)
							}
						}
					}
				}
				checkClassic(t, recv, tenant, rounds)
			}
		})
	}
}

// jitterOf is the offset of a jittered timestamp from its 15s tick.
func jitterOf(ts int64, interval time.Duration) int64 {
	step := interval.Milliseconds()
	off := ((ts % step) + step) % step
	if off > step/2 {
		off -= step
	}
	return off
}

// checkClassic checks that every classic histogram's buckets are
// cumulative and that +Inf equals _count.
func checkClassic(t *testing.T, recv *receiver, tenant string, rounds int) {
	t.Helper()
	series := recv.tenantSeries(tenant)
	for id := range 10 {
		get := func(suffix, le string) []point {
			for key := range series {
				l := recv.lbls[key]
				if l.Get("__name__") == "loadgen_histogram_0"+suffix && l.Get("series_id") == strconv.Itoa(id) && l.Get("le") == le {
					return series[key]
				}
			}
			t.Fatalf("no series %s le=%q for id %d", suffix, le, id)
			return nil
		}
		count := get("_count", "")
		for r := range rounds {
			prev := 0.0
			for _, le := range append(newShape(0, 1).leValues[:len(classicBounds)], "+Inf") {
				v := get("_bucket", le)[r].v
				require.GreaterOrEqual(t, v, prev)
				prev = v
			}
			require.Equal(t, count[r].v, prev)
		}
	}
}

func TestRunChurn(t *testing.T) {
	recv, url := newReceiver(t, nil)
	const rounds = 4
	cfg := testConfig(t, url, func(c *Config) {
		c.Series = 1000
		c.GaugeFraction = 0
		c.Churn = 10
		c.BatchSize = 250
		c.MaxRate = true
		c.Concurrency = 1
		c.Requests = rounds * 4
	})
	run(t, cfg)
	series := recv.tenantSeries("loadgen")
	require.Len(t, series, 1000+(rounds-1)*100)

	// The set of series of each round: 1000, and 100 differ from the
	// previous round's.
	byTick := map[int64]map[string]bool{}
	for key, points := range series {
		for _, p := range points {
			if byTick[p.t] == nil {
				byTick[p.t] = map[string]bool{}
			}
			byTick[p.t][key] = true
		}
	}
	ticks := slices.Sorted(func(yield func(int64) bool) {
		for k := range byTick {
			if !yield(k) {
				return
			}
		}
	})
	require.Len(t, ticks, rounds)
	for i, tick := range ticks {
		require.Len(t, byTick[tick], 1000)
		if i == 0 {
			continue
		}
		replaced := 0
		for key := range byTick[tick] {
			if !byTick[ticks[i-1]][key] {
				replaced++
			}
		}
		require.Equal(t, 100, replaced, "round %d", i)
	}
}

func TestRunRounds(t *testing.T) {
	for _, backfill := range []time.Duration{time.Hour, 13 * time.Hour} {
		t.Run(fmt.Sprint("backfill ", backfill), func(t *testing.T) {
			recv, url := newReceiver(t, nil)
			cfg := testConfig(t, url, func(c *Config) {
				c.Series = 500
				c.BatchSize = 100
				c.MaxRate = true
				c.Backfill = backfill
				c.Concurrency = 3
				c.Rounds = 4
			})
			// The first round is -backfill before the run started,
			// truncated to -interval.
			first := time.Now().Add(-backfill).Truncate(cfg.Interval).UnixMilli()
			sum := run(t, cfg)
			last := time.Now().Add(-backfill).Truncate(cfg.Interval).UnixMilli()
			require.Equal(t, uint64(4*500), sum.SamplesAccepted)
			series := recv.tenantSeries("loadgen")
			require.Len(t, series, 500)
			for key, points := range series {
				require.Len(t, points, 4, key)
				require.GreaterOrEqual(t, points[0].t, first, key)
				require.LessOrEqual(t, points[0].t, last, key)
				for i := 1; i < len(points); i++ {
					require.Equal(t, cfg.Interval.Milliseconds(), points[i].t-points[i-1].t, key)
				}
			}
		})
	}
}

func TestRunPacing(t *testing.T) {
	recv, url := newReceiver(t, nil)
	const rounds = 3
	cfg := testConfig(t, url, func(c *Config) {
		c.Series = 300
		c.GaugeFraction = 1
		c.BatchSize = 100
		c.Interval = 200 * time.Millisecond
		c.Concurrency = 2
		c.Requests = rounds * 3
	})
	start := time.Now()
	sum := run(t, cfg)
	require.Equal(t, uint64(rounds*300), sum.SamplesAccepted)

	perTick := map[int64]int{}
	var first time.Time
	for _, points := range recv.tenantSeries("loadgen") {
		for _, p := range points {
			perTick[p.t]++
			if first.IsZero() || p.recv.Before(first) {
				first = p.recv
			}
			// A sample is never sent before its timestamp.
			require.False(t, p.recv.Before(time.UnixMilli(p.t)), "sample at %d received early at %v", p.t, p.recv)
		}
	}
	require.Len(t, perTick, rounds)
	for tick, n := range perTick {
		require.Equal(t, 300, n, "tick %d", tick)
		require.Zero(t, tick%cfg.Interval.Milliseconds())
	}
	require.GreaterOrEqual(t, time.Since(start), (rounds-1)*cfg.Interval)
}

func TestRunRetriesAndDrops(t *testing.T) {
	tests := map[string]struct {
		fail                 func(n int) int
		maxRetries           int
		wantAccepted         uint64
		wantDropped          uint64
		wantRetries          uint64
		wantStatus           map[string]uint64
		wantFinishedRequests uint64
	}{
		"5xx and 429 are retried until accepted": {
			fail: func(n int) int {
				return []int{503, 500, 429, 0, 0, 0}[n]
			},
			maxRetries: 5, wantAccepted: 300, wantRetries: 3,
			wantStatus:           map[string]uint64{"503": 1, "500": 1, "429": 1, "200": 3},
			wantFinishedRequests: 3,
		},
		"4xx are dropped without retries": {
			fail:       func(n int) int { return []int{400, 0, 413}[n] },
			maxRetries: 5, wantAccepted: 100, wantDropped: 200,
			wantStatus:           map[string]uint64{"400": 1, "200": 1, "413": 1},
			wantFinishedRequests: 3,
		},
		"retries run out": {
			fail:       func(n int) int { return []int{503, 503, 503, 0, 0}[n] },
			maxRetries: 2, wantAccepted: 200, wantDropped: 100, wantRetries: 2,
			wantStatus:           map[string]uint64{"503": 3, "200": 2},
			wantFinishedRequests: 3,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, url := newReceiver(t, tc.fail)
			cfg := testConfig(t, url, func(c *Config) {
				c.Series = 300
				c.GaugeFraction = 0
				c.BatchSize = 100
				c.MaxRate = true
				c.Concurrency = 1
				c.Requests = 3
				c.MaxRetries = tc.maxRetries
			})
			sum := run(t, cfg)
			require.Equal(t, tc.wantAccepted, sum.SamplesAccepted)
			require.Equal(t, tc.wantDropped, sum.SamplesDropped)
			require.Equal(t, tc.wantRetries, sum.Retries)
			require.Equal(t, tc.wantStatus, sum.Status)
			require.Equal(t, tc.wantFinishedRequests, sum.Requests)
			require.Equal(t, int(tc.wantRetries)+3, sum.PushLatency.Count)
		})
	}
}

func TestAuthHeaders(t *testing.T) {
	tests := map[string]struct {
		change func(*Config)
		check  func(t *testing.T, h http.Header)
	}{
		"tenant header": {
			change: func(*Config) {},
			check: func(t *testing.T, h http.Header) {
				require.Equal(t, "loadgen", h.Get("X-Scope-OrgID"))
				require.Empty(t, h.Get("Authorization"))
			},
		},
		"api key as basic auth": {
			change: func(c *Config) { c.APIKey = "s3cret" },
			check: func(t *testing.T, h http.Header) {
				require.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte("loadgen:s3cret")), h.Get("Authorization"))
			},
		},
		"bearer token and extra header": {
			change: func(c *Config) {
				c.BearerToken = "tok"
				require.NoError(t, c.Headers.Set("X-Extra: yes"))
			},
			check: func(t *testing.T, h http.Header) {
				require.Equal(t, "Bearer tok", h.Get("Authorization"))
				require.Equal(t, "yes", h.Get("X-Extra"))
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			recv, url := newReceiver(t, nil)
			cfg := testConfig(t, url, func(c *Config) {
				c.Series = 10
				c.MaxRate = true
				c.Requests = 1
				tc.change(c)
			})
			run(t, cfg)
			require.Len(t, recv.headers, 1)
			tc.check(t, recv.headers[0])
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		change  func(*Config)
		wantErr []string
	}{
		"defaults are valid": {change: func(*Config) {}},
		"every problem is reported": {
			change: func(c *Config) {
				c.Protocol = "rw3"
				c.Concurrency = 0
				c.Jitter = c.Interval
				c.Duration = 0
			},
			wantErr: []string{"-protocol", "-concurrency", "-jitter", "-duration"},
		},
		"queries need a URL": {
			change:  func(c *Config) { c.QueryRate = 1 },
			wantErr: []string{"-query-url"},
		},
		"exclusive credentials": {
			change:  func(c *Config) { c.APIKey, c.BearerToken = "a", "b" },
			wantErr: []string{"exclusive"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var cfg Config
			cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
			tc.change(&cfg)
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

func TestChurned(t *testing.T) {
	// Over 10 rounds at 10%, every slot is replaced exactly once.
	seen := make([]int, 1000)
	for round := 1; round <= 10; round++ {
		n := 0
		for slot := range seen {
			if churned(round, slot, len(seen), 10) {
				seen[slot]++
				n++
			}
		}
		require.Equal(t, 100, n)
	}
	for _, s := range seen {
		require.Equal(t, 1, s)
	}
	require.False(t, churned(0, 0, 1000, 10))
}

func TestRoundClock(t *testing.T) {
	now := int64(100_000)
	c := &roundClock{base: 40_000, step: 15_000, maxRate: true, now: func() int64 { return now }}
	var got []int64
	for r := range 8 {
		got = append(got, c.tick(r))
	}
	// Steps of 15s until the clock (100s) is reached, then the clock, then
	// 1ms steps while the clock stands still.
	require.Equal(t, []int64{40_000, 55_000, 70_000, 85_000, 100_000, 100_001, 100_002, 100_003}, got)
	now = 200_000
	require.Equal(t, int64(115_003), c.tick(8), "behind the clock again: steps of the interval")
	require.Equal(t, int64(100_001), c.tick(5), "a round keeps its timestamp")

	paced := &roundClock{base: 30_000, step: 15_000}
	require.Equal(t, int64(75_000), paced.tick(3))
}

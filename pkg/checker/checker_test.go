package checker

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testWriter sends a checker's logs to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

// testConfig returns the flag defaults for the backend at url, fast.
func testConfig(t testing.TB, url string) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	cfg.URL = url + "/api/v1/push"
	cfg.Series = 5
	cfg.Interval = 5 * time.Millisecond
	cfg.CheckInterval = 20 * time.Millisecond
	cfg.Settle = 0
	cfg.FinalTimeout = 100 * time.Millisecond
	return cfg
}

func TestChecker(t *testing.T) {
	const pushes = 20
	tests := map[string]struct {
		faults faults
		check  func(t *testing.T, s *Summary)
	}{
		"a healthy backend: everything acknowledged is read back": {
			check: func(t *testing.T, s *Summary) {
				require.True(t, s.OK())
				require.Zero(t, s.PushesRetried)
				require.Zero(t, s.QueryFailures)
				require.Positive(t, s.PeriodicChecks)
				require.Zero(t, s.PeriodicIncomplete)
				require.Equal(t, s.SamplesAcknowledged, s.SamplesReadBack)
				require.Equal(t, s.PushesAcknowledged*5, s.SamplesAcknowledged)
			},
		},
		"the backend drops one acknowledged sample: reported lost": {
			faults: faults{drop: func(series string, n int) bool { return series == "3" && n == 4 }},
			check: func(t *testing.T, s *Summary) {
				require.False(t, s.OK())
				require.Equal(t, uint64(1), s.SamplesLost)
				require.Equal(t, s.SamplesAcknowledged-1, s.SamplesReadBack)
				require.Len(t, s.LostExamples, 1)
				require.Contains(t, s.LostExamples[0], "series=3@")
				require.Positive(t, s.PeriodicIncomplete)
			},
		},
		"5xx and 429 are retried until acknowledged": {
			faults: faults{push: func(n int) (int, bool) {
				switch n {
				case 2, 3:
					return 503, false
				case 5:
					return 429, false
				}
				return 0, true
			}},
			check: func(t *testing.T, s *Summary) {
				require.True(t, s.OK())
				require.Equal(t, uint64(2), s.Responses5xx)
				require.Equal(t, uint64(1), s.Responses429)
				require.Equal(t, uint64(2), s.PushesRetried)
				require.Equal(t, uint64(3), s.Retries)
				require.Equal(t, s.Pushes, s.PushesAcknowledged)
				require.Equal(t, s.SamplesAcknowledged, s.SamplesReadBack)
			},
		},
		"a 500 after writing: the retry rewrites the same values": {
			faults: faults{push: func(n int) (int, bool) {
				if n == 3 {
					return 500, true
				}
				return 0, true
			}},
			check: func(t *testing.T, s *Summary) {
				require.True(t, s.OK())
				require.Equal(t, uint64(1), s.PushesRetried)
				require.Zero(t, s.ReadBackUnacknowledged)
			},
		},
		"a 400 after writing: a failure, read back unacknowledged, not a loss": {
			faults: faults{push: func(n int) (int, bool) {
				if n == 3 {
					return 400, true
				}
				return 0, true
			}},
			check: func(t *testing.T, s *Summary) {
				require.True(t, s.OK())
				require.Equal(t, uint64(1), s.PushesFailed)
				require.Zero(t, s.PushesRetried)
				require.Equal(t, uint64(5), s.ReadBackUnacknowledged)
				require.Equal(t, s.SamplesAcknowledged+5, s.SamplesReadBack)
			},
		},
		"the backend changes a value: a mismatch": {
			faults: faults{corrupt: func(series string, n int) bool { return series == "1" && n == 6 }},
			check: func(t *testing.T, s *Summary) {
				require.False(t, s.OK())
				require.Equal(t, uint64(1), s.ValueMismatches)
				require.Zero(t, s.SamplesLost)
			},
		},
		"the backend returns a sample never pushed: a phantom": {
			faults: faults{extra: func(n int) bool { return n == 2 }},
			check: func(t *testing.T, s *Summary) {
				require.False(t, s.OK())
				require.Equal(t, uint64(1), s.Phantoms)
				require.Zero(t, s.SamplesLost)
			},
		},
		"queries fail for a while: counted, the final read-back retries": {
			faults: faults{query: func(n int) bool { return n < 3 }},
			check: func(t *testing.T, s *Summary) {
				require.True(t, s.OK())
				require.Equal(t, uint64(3), s.QueryFailures)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b, url := newBackend(t, tc.faults)
			cfg := testConfig(t, url)
			cfg.FinalTimeout = 10 * time.Second
			if tc.faults.drop != nil || tc.faults.corrupt != nil || tc.faults.extra != nil {
				cfg.FinalTimeout = 100 * time.Millisecond // Nothing will come back.
			}
			_, s := drive(t, cfg, pushes)
			require.Equal(t, []string{"hearth-check"}, keys(b.seenTenants()))
			tc.check(t, s)
		})
	}
}

// TestCheckerFinalReadBackFailsForGood: a read-back that never works is an
// error, not a report of zero samples.
func TestCheckerFinalReadBackFailsForGood(t *testing.T) {
	_, url := newBackend(t, faults{query: func(int) bool { return true }})
	cfg := testConfig(t, url)
	cfg.CheckInterval = 0
	c, err := New(cfg, testLogger(t))
	require.NoError(t, err)
	c.Start(context.Background())
	require.Eventually(t, func() bool { return c.Progress().PushesAcknowledged >= 3 }, 30*time.Second, time.Millisecond)
	c.Stop()
	_, err = c.Verify(context.Background())
	require.ErrorContains(t, err, "reading the run back")
	require.Positive(t, c.Progress().QueryFailures)
}

// TestCheckerRunEndsWhileRetrying: a push retried when the run ends is
// unacknowledged, and its samples are not expected.
func TestCheckerRunEndsWhileRetrying(t *testing.T) {
	_, url := newBackend(t, faults{push: func(n int) (int, bool) {
		if n >= 5 {
			return 503, n == 5 // The first failed attempt was written anyway.
		}
		return 0, true
	}})
	cfg := testConfig(t, url)
	c, err := New(cfg, testLogger(t))
	require.NoError(t, err)
	c.Start(context.Background())
	require.Eventually(t, func() bool { return c.Progress().Retries >= 2 }, 30*time.Second, time.Millisecond)
	c.Stop()
	s, err := c.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, s.OK())
	require.Equal(t, uint64(5), s.PushesAcknowledged)
	require.Equal(t, uint64(1), s.PushesUnacknowledged)
	require.Equal(t, uint64(25), s.SamplesAcknowledged)
	require.Equal(t, uint64(5), s.ReadBackUnacknowledged)
	require.Equal(t, uint64(30), s.SamplesReadBack)
}

// TestRunWritesSummary runs the command's cycle with an API key and checks
// the text and JSON summaries.
func TestRunWritesSummary(t *testing.T) {
	b, url := newBackend(t, faults{})
	cfg := testConfig(t, url)
	cfg.APIKey = "secret"
	cfg.Tenant = "team-a"
	cfg.RunID = "run-1"
	cfg.Duration = 200 * time.Millisecond
	cfg.SummaryJSON = filepath.Join(t.TempDir(), "summary.json")
	s, err := Run(context.Background(), cfg, testLogger(t))
	require.NoError(t, err)
	require.True(t, s.OK())
	require.Positive(t, s.SamplesAcknowledged)
	require.Equal(t, []string{"team-a:secret"}, keys(b.seenTenants()))

	var text bytes.Buffer
	require.NoError(t, s.WriteText(&text))
	require.Contains(t, text.String(), "run run-1, tenant team-a")
	require.Contains(t, text.String(), "OK: every acknowledged sample was read back unchanged")

	require.NoError(t, s.WriteJSON(cfg.SummaryJSON))
	raw, err := os.ReadFile(cfg.SummaryJSON)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, "run-1", got["run_id"])
	require.InDelta(t, float64(s.SamplesAcknowledged), got["samples_acknowledged"], 0)
	require.InDelta(t, 0, got["samples_lost"], 0)
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		change func(*Config)
		want   []string
	}{
		"the defaults are valid": {change: func(*Config) {}},
		"every problem is named": {
			change: func(c *Config) {
				c.URL = "localhost:9009"
				c.QueryURL = "/prometheus"
				c.Tenant = ""
				c.RunID = `a"b`
				c.Series = 0
				c.Interval = 0
				c.Settle = -time.Second
				c.Timeout = 0
			},
			want: []string{`-url "localhost:9009" is not an absolute URL`, `-query-url "/prometheus"`, "-tenant is empty", `-run-id "a\"b"`, "-series 0", "-interval 0s", "-settle -1s is negative", "-timeout 0s"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var cfg Config
			cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
			tc.change(&cfg)
			err := cfg.Validate()
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestQueryURLDefault(t *testing.T) {
	cfg := Config{URL: "http://127.0.0.1:9009/api/v1/push"}
	require.Equal(t, "http://127.0.0.1:9009/prometheus", cfg.queryURL())
	cfg.QueryURL = "http://q:9090/"
	require.Equal(t, "http://q:9090", cfg.queryURL())
}

func TestValueDependsOnSeriesAndTimestamp(t *testing.T) {
	seen := map[float64]bool{}
	for s := range 10 {
		for ts := int64(1_700_000_000_000); ts < 1_700_000_000_100; ts++ {
			v := Value(s, ts)
			require.Equal(t, v, Value(s, ts))
			require.False(t, seen[v], "series %d at %d repeats a value", s, ts)
			seen[v] = true
			require.Less(t, v, 1e9)
		}
	}
}

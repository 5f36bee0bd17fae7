package loadgen

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestQueryMixParses(t *testing.T) {
	tests := map[string]func(*Config){
		"counters and classic histograms": func(c *Config) { c.ClassicHistograms = 10 },
		"gauges only":                     func(c *Config) { c.GaugeFraction = 1 },
		"native histograms only":          func(c *Config) { c.Series, c.NativeHistograms = 0, 10 },
		"classic histograms only":         func(c *Config) { c.Series, c.ClassicHistograms = 0, 10 },
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, "http://127.0.0.1:1/api/v1/push", change)
			for _, q := range queryMix(&cfg) {
				expr := q.render(newRand(1))
				_, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
				require.NoError(t, err, expr)
			}
		})
	}
}

func TestRunQueries(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		_, err := parser.NewParser(parser.Options{}).ParseExpr(r.Form.Get("query"))
		require.NoError(t, err)
		mu.Lock()
		seen[r.URL.Path+" "+r.Header.Get("X-Scope-OrgID")]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/query_range" {
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	t.Cleanup(api.Close)
	_, url := newReceiver(t, nil)
	cfg := testConfig(t, url, func(c *Config) {
		c.Series = 100
		c.Interval = 100 * time.Millisecond
		c.Duration = time.Second
		c.QueryURL = api.URL
		c.QueryRate = 100
	})
	sum := run(t, cfg)
	total := 0
	for _, q := range sum.Queries {
		total += q.Count
	}
	require.Greater(t, total, 20)
	require.Empty(t, sum.QueryErrors)
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, seen["/api/v1/query loadgen"])
	require.Positive(t, seen["/api/v1/query_range loadgen"])
	require.Len(t, seen, 2)
}

package frontend

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// heavyCost is what one of tenant A's expensive queries costs a querier.
const heavyCost = 20 * time.Millisecond

// fairnessHandler answers "heavy" queries after heavyCost (or when
// cancelled) and light ones at once.
var fairnessHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("query") == "heavy" {
		select {
		case <-time.After(heavyCost):
		case <-r.Context().Done():
			return
		}
	}
	_, _ = io.WriteString(w, `{"status":"success"}`)
})

// lightLatencies runs n light queries of tenant b one after the other and
// returns their latencies.
func lightLatencies(t *testing.T, fe *Frontend, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		w := serve(fe, "b", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=light", nil))
		require.Equal(t, http.StatusOK, w.Code)
		out = append(out, time.Since(start))
	}
	return out
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99-1)/100]
}

// Tenant A floods the queue with expensive queries; tenant B's light
// queries still go out in turn: each waits at most for a querier to free
// up, not for A's backlog.
func TestFairnessUnderAFloodingTenant(t *testing.T) {
	const (
		workers = 2
		heavy   = 200 // 200 × 20ms ÷ 2 workers: a 2s backlog
		light   = 20
	)
	fe := newFrontendWith(t, defaultConfig(), fixedLimits{maxOutstanding: heavy}, nil, workers, fairnessHandler)

	alone := lightLatencies(t, fe, light)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range heavy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=heavy", nil).WithContext(ctx))
		}()
	}
	require.Eventually(t, func() bool { return fe.queue.Len() >= heavy/2 }, 10*time.Second, time.Millisecond)
	flooded := lightLatencies(t, fe, light)
	backlog := fe.queue.Len()
	cancel()
	wg.Wait()

	t.Logf("tenant B p99 over %d light queries: %s alone, %s with tenant A's %d heavy queries (%s each) queued on %d workers; A still had %d queued when B was done",
		light, p99(alone), p99(flooded), heavy, heavyCost, workers, backlog)
	// B was served before A's backlog drained: A still had queries queued
	// when B's last answer came.
	require.Positive(t, backlog, "tenant B waited for tenant A's whole backlog")
}

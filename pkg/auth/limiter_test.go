package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestBadKeysDoNotBlockGoodKeys floods the push endpoint with 40 bad
// credentials for each good push, all from 127.0.0.1, as the attack of
// issue 13 did: every good push is served, whether its key is cached or
// not yet, and the flood's store reads stay bounded.
func TestBadKeysDoNotBlockGoodKeys(t *testing.T) {
	const rounds, badPerGood = 10, 40
	for name, tc := range map[string]struct {
		bad  func(good Created) cred
		good func(good Created) cred
	}{
		"random Bearer keys": {
			bad:  func(Created) cred { _, tok := newToken(); return bearer(tok.Reveal()) },
			good: func(g Created) cred { return bearer(g.Token.Reveal()) },
		},
		"random keys claiming the good tenant (Basic)": {
			bad:  func(Created) cred { _, tok := newToken(); return basic("team-a", tok.Reveal()) },
			good: func(g Created) cred { return basic("team-a", g.Token.Reveal()) },
		},
		"the good key's id with wrong secrets": {
			bad:  func(g Created) cred { return bearer(flipLast(g.Token.Reveal())) },
			good: func(g Created) cred { return bearer(g.Token.Reveal()) },
		},
		"the good tenant and key id with wrong secrets (Basic)": {
			bad:  func(g Created) cred { return basic("team-a", flipLast(g.Token.Reveal())) },
			good: func(g Created) cred { return basic("team-a", g.Token.Reveal()) },
		},
		"malformed keys": {
			bad:  func(Created) cred { return bearer("hearth_not-a-key") },
			good: func(g Created) cred { return bearer(g.Token.Reveal()) },
		},
	} {
		t.Run(name, func(t *testing.T) {
			keys := NewKeys(newPebble(t))
			good := mustCreate(t, keys, "team-a", ScopeWrite)
			a, _ := newAuth(t, testConfig(), keys, nil) // burst 10, 1/s
			runService(t, a)                            // the scan learns good's id
			require.Eventually(t, func() bool { return a.isKnown(good.Key.ID) }, 10*time.Second, time.Millisecond)
			srv := publicServer(t, a)

			statuses := map[int]int{}
			for range rounds {
				for range badPerGood {
					status, _, _ := do(t, srv, http.MethodPost, "/api/v1/push", tc.bad(good))
					statuses[status]++
				}
				// The first good push finds its key uncached.
				status, body, _ := do(t, srv, http.MethodPost, "/api/v1/push", tc.good(good))
				require.Equal(t, http.StatusOK, status, body)
			}
			require.Zero(t, statuses[http.StatusOK], "%v", statuses)
			require.NotZero(t, statuses[http.StatusTooManyRequests], "the flood is throttled: %v", statuses)
			// Misses: the good key once, made-up ids within the source's
			// lookup budget (a burst of 10 plus 1/s).
			misses := testutil.ToFloat64(a.storeReads.WithLabelValues("miss"))
			require.LessOrEqual(t, misses, 1+10+5.0)
			t.Logf("%d good pushes of %d served; bad ones answered %v; %g store misses", rounds, rounds, statuses, misses)
		})
	}
}

// TestOperatorTokenWorksDuringAFlood: bad operator tokens from one address
// are throttled in a limiter of their own: the valid token from the same
// address is served throughout, and so are tenants' keys.
func TestOperatorTokenWorksDuringAFlood(t *testing.T) {
	keys := NewKeys(newMem())
	a, _ := newAuth(t, testConfig(), keys, nil)
	op := httptest.NewServer(a.Operator(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })))
	t.Cleanup(op.Close)
	pub := publicServer(t, a)
	k := mustCreate(t, keys, "team-a", ScopeWrite)

	statuses := map[int]int{}
	for range 10 {
		for range 40 {
			status, _, h := do(t, op, http.MethodGet, "/metrics", bearer("hearth_operator_guess"))
			statuses[status]++
			if status == http.StatusTooManyRequests {
				require.NotEmpty(t, h.Get("Retry-After"))
			}
		}
		status, body, _ := do(t, op, http.MethodGet, "/metrics", bearer("operator-secret-for-tests"))
		require.Equal(t, http.StatusOK, status, body)
		status, body, _ = do(t, pub, http.MethodPost, "/api/v1/push", bearer(k.Token.Reveal()))
		require.Equal(t, http.StatusOK, status, body)
	}
	require.Equal(t, 10, statuses[http.StatusUnauthorized], "a burst of 10, then 429: %v", statuses)
	require.Equal(t, 390, statuses[http.StatusTooManyRequests], "%v", statuses)

	// And the other way round: a flood of bad tenant keys leaves the
	// operator alone.
	for range 40 {
		_, tok := newToken()
		do(t, pub, http.MethodPost, "/api/v1/push", bearer(tok.Reveal()))
	}
	status, body, _ := do(t, op, http.MethodGet, "/metrics", bearer("operator-secret-for-tests"))
	require.Equal(t, http.StatusOK, status, body)
}

// TestUnknownKeyLookupsAreBounded: made-up key ids, each new, cost a
// store read only within the source's budget; past it they are refused
// with 429 without reading, while another source still gets its reads.
func TestUnknownKeyLookupsAreBounded(t *testing.T) {
	mem := newMem()
	keys := NewKeys(mem)
	cfg := testConfig()
	cfg.FailureRateLimit = 0.001 // no refill during the test
	a, _ := newAuth(t, cfg, keys, nil)
	h := a.Middleware(ScopeWrite)(echoTenant)
	from := func(addr string) int {
		_, tok := newToken()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/push", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+tok.Reveal())
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	for range cfg.FailureBurst {
		require.Equal(t, http.StatusUnauthorized, from("192.0.2.1:1000"))
	}
	before := mem.reads.Load()
	for range 1000 {
		require.Equal(t, http.StatusTooManyRequests, from("192.0.2.1:1000"))
	}
	require.Equal(t, before, mem.reads.Load(), "no store read past the budget")
	require.Equal(t, 1000.0, testutil.ToFloat64(a.failures.WithLabelValues(reasonLookupLimited)))
	require.Equal(t, http.StatusUnauthorized, from("192.0.2.2:1000"), "another source has its own budget")
	require.Equal(t, before+1, mem.reads.Load())
}

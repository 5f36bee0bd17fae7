package frontend

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// fanOut is a middleware that sends each query as shards concurrent
// sub-requests, as the sharding middleware does with a shardable
// aggregation (-frontend.query-sharding-total-shards, 16 by default).
func fanOut(shards int) Middleware {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			var g errgroup.Group
			for range shards {
				g.Go(func() error {
					resp, err := next.RoundTrip(r.Clone(r.Context()))
					if err != nil {
						return err
					}
					return resp.Body.Close()
				})
			}
			if err := g.Wait(); err != nil {
				return nil, err
			}
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(http.NoBody), Request: r}, nil
		})
	}
}

// gatedHandler answers once gate is closed.
func gatedHandler(gate <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, `{"status":"success"}`)
	})
}

func (a *admission) inFlightOf(id tenant.ID) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight[id]
}

// -frontend.max-outstanding-requests-per-tenant counts queries, not the
// sub-requests they queue: under the default (100) a tenant's seventh
// concurrent query sharded 16 ways is admitted, and its 112 sub-requests
// all queue (a queue bounded at 100 requests refused it).
func TestSeventhConcurrentShardedQueryIsAdmitted(t *testing.T) {
	const queries, shards = 7, 16
	gate := make(chan struct{})
	fe := newFrontendWith(t, defaultConfig(), defaultLimits, fanOut(shards), 1, gatedHandler(gate))
	codes := make(chan int, queries)
	for range queries {
		go func() {
			codes <- serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=sum(up)", nil)).Code
		}()
	}
	// Every sub-request queued, one taken by the only worker.
	require.Eventually(t, func() bool { return fe.queue.Len() == queries*shards-1 }, 10*time.Second, time.Millisecond)
	require.Equal(t, queries, fe.admit.inFlightOf("a"))
	close(gate)
	for range queries {
		require.Equal(t, http.StatusOK, <-codes)
	}
	require.Zero(t, fe.admit.inFlightOf("a"), "answered queries leave the count")
}

func TestAdmissionLimit(t *testing.T) {
	for name, tc := range map[string]struct {
		limits    Limits
		inFlight  int       // tenant a's queries held in flight first
		next      tenant.ID // then one query of this tenant
		wantCode  int
		wantError []string
	}{
		"the 101st concurrent query is refused under the default": {
			limits: defaultLimits, inFlight: 100, next: "a", wantCode: http.StatusTooManyRequests,
			wantError: []string{`tenant "a"`, "100 queries in flight", "the limit is 100", "-frontend.max-outstanding-requests-per-tenant"},
		},
		"the 100th is admitted":                    {limits: defaultLimits, inFlight: 99, next: "a", wantCode: http.StatusOK},
		"another tenant is unaffected":             {limits: defaultLimits, inFlight: 100, next: "b", wantCode: http.StatusOK},
		"a per-tenant limit applies":               {limits: perTenantLimits{"a": 3}, inFlight: 3, next: "a", wantCode: http.StatusTooManyRequests, wantError: []string{"the limit is 3"}},
		"a federated query counts for each tenant": {limits: defaultLimits, inFlight: 100, next: "b|a", wantCode: http.StatusTooManyRequests, wantError: []string{`tenant "a"`}},
		"0 disables the limit":                     {limits: fixedLimits{}, inFlight: 150, next: "a", wantCode: http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			gate := make(chan struct{})
			fe := newFrontendWith(t, defaultConfig(), tc.limits, nil, 1, gatedHandler(gate))
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); wg.Wait() }()
			for range tc.inFlight {
				wg.Add(1)
				go func() {
					defer wg.Done()
					serve(fe, "a", httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil).WithContext(ctx))
				}()
			}
			require.Eventually(t, func() bool { return fe.admit.inFlightOf("a") == tc.inFlight }, 10*time.Second, time.Millisecond)

			got := make(chan *httptest.ResponseRecorder, 1)
			go func() {
				got <- serve(fe, tc.next, httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil))
			}()
			if tc.wantCode == http.StatusOK {
				// Admitted: it waits its turn behind the gate.
				require.Eventually(t, func() bool {
					return fe.admit.inFlightOf(tc.next.Tenants()[0]) > 0 && fe.admit.inFlightOf("a") >= tc.inFlight
				}, 10*time.Second, time.Millisecond)
				close(gate)
			}
			w := <-got
			require.Equal(t, tc.wantCode, w.Code, w.Body.String())
			if tc.wantCode != http.StatusOK {
				var body map[string]string
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
				require.Equal(t, "error", body["status"])
				require.Equal(t, "too_many_requests", body["errorType"])
				for _, want := range tc.wantError {
					require.Contains(t, body["error"], want)
				}
				close(gate)
			}
		})
	}
}

// perTenantLimits sets max_outstanding_requests_per_tenant per tenant (the
// runtime overrides' shape); other tenants have none.
type perTenantLimits map[tenant.ID]int

func (perTenantLimits) MaxQueriersPerTenant(tenant.ID) int         { return 0 }
func (l perTenantLimits) MaxOutstandingPerTenant(id tenant.ID) int { return l[id] }

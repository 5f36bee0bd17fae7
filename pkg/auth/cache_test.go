package auth

import (
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// pushStatus runs one request with tok through a's write middleware.
func pushStatus(a *Authenticator, tok string) int {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/push", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	a.Middleware(ScopeWrite)(echoTenant).ServeHTTP(rec, req)
	return rec.Code
}

// TestRevocationElsewhereWithinTTL revokes a key behind a process's back
// (as another process would) and checks, on a fake clock, that the
// refresh makes it take effect within one TTL, with one batched read per
// TTL and none per request.
func TestRevocationElsewhereWithinTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMem()
		keys := NewKeys(mem)
		cfg := testConfig()
		a, _ := newAuth(t, cfg, keys, nil)
		runService(t, a)
		k := mustCreate(t, keys, "team-a", ScopeWrite)
		require.Equal(t, http.StatusOK, pushStatus(a, k.Token.Reveal()))

		time.Sleep(cfg.CacheTTL / 2)
		_, err := keys.Revoke(context.Background(), "team-a", k.Key.ID, time.Time{})
		require.NoError(t, err)
		revokedAt := time.Now()
		readsBefore := mem.reads.Load()
		for pushStatus(a, k.Token.Reveal()) == http.StatusOK {
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			require.Less(t, time.Since(revokedAt), cfg.CacheTTL+time.Millisecond)
		}
		require.Equal(t, http.StatusUnauthorized, pushStatus(a, k.Token.Reveal()))
		require.Equal(t, int64(1), mem.reads.Load()-readsBefore, "one refresh read, no read per request")
		t.Logf("revoked after %s (fake clock, TTL %s)", time.Since(revokedAt), cfg.CacheTTL)
	})
}

// TestStaleRecordsAreNotTrusted: when refreshes fail, a cached key works
// for up to two TTLs, then requests get 503 until the store answers.
func TestStaleRecordsAreNotTrusted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMem()
		keys := NewKeys(mem)
		cfg := testConfig()
		a, _ := newAuth(t, cfg, keys, nil)
		runService(t, a)
		k := mustCreate(t, keys, "team-a", ScopeWrite)
		require.Equal(t, http.StatusOK, pushStatus(a, k.Token.Reveal()))
		loaded := time.Now()

		mem.fail.Store(true)
		time.Sleep(2*cfg.CacheTTL - time.Millisecond)
		require.Equal(t, http.StatusOK, pushStatus(a, k.Token.Reveal()), "within two TTLs of the last good read")
		time.Sleep(time.Millisecond)
		require.Equal(t, 2*cfg.CacheTTL, time.Since(loaded))
		require.Equal(t, http.StatusServiceUnavailable, pushStatus(a, k.Token.Reveal()))
		require.Equal(t, 1.0, testutil.ToFloat64(a.failures.WithLabelValues(reasonStoreError)))

		mem.fail.Store(false)
		require.Equal(t, http.StatusOK, pushStatus(a, k.Token.Reveal()))
	})
}

// TestMissesAreReadOnce: concurrent requests for an uncached key make one
// store read (singleflight), and a miss is cached for a TTL.
func TestMissesAreReadOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMem()
		keys := NewKeys(mem)
		cfg := testConfig()
		cfg.FailureBurst = 1000
		a, _ := newAuth(t, cfg, keys, nil)
		k := mustCreate(t, keys, "team-a", ScopeWrite)
		_, unknown := newToken()
		slow := &slowBackend{Backend: mem, delay: 50 * time.Millisecond}
		keys.backend = slow

		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { require.Equal(t, http.StatusOK, pushStatus(a, k.Token.Reveal())) })
			wg.Go(func() { require.Equal(t, http.StatusUnauthorized, pushStatus(a, unknown.Reveal())) })
		}
		wg.Wait()
		require.Equal(t, int64(2), mem.reads.Load(), "one read per key id")
		require.Equal(t, http.StatusUnauthorized, pushStatus(a, unknown.Reveal()))
		require.Equal(t, int64(2), mem.reads.Load(), "the miss is cached")
		time.Sleep(testConfig().CacheTTL)
		require.Equal(t, http.StatusUnauthorized, pushStatus(a, unknown.Reveal()))
		require.Equal(t, int64(3), mem.reads.Load(), "a miss older than a TTL is read again")
	})
}

// TestInvalidateWinsOverARacingRead: a read that began before an
// invalidation does not put its stale answer in the cache.
func TestInvalidateWinsOverARacingRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mem := newMem()
		keys := NewKeys(mem)
		a, _ := newAuth(t, testConfig(), keys, nil)
		k := mustCreate(t, keys, "team-a", ScopeWrite)
		keys.backend = &slowBackend{Backend: mem, delay: time.Second}
		done := make(chan int)
		go func() { done <- pushStatus(a, k.Token.Reveal()) }()
		time.Sleep(time.Millisecond) // the read is in flight
		a.Invalidate(k.Key.ID)
		require.Equal(t, http.StatusOK, <-done)
		a.mu.RLock()
		_, cached := a.cache[k.Key.ID]
		a.mu.RUnlock()
		require.False(t, cached)
	})
}

type slowBackend struct {
	Backend
	delay time.Duration
}

func (s *slowBackend) Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	time.Sleep(s.delay)
	return s.Backend.Read(ctx, req, fn)
}

var revocationTTL = flag.Duration("auth.revocation-ttl", time.Second, "TestRevocationDelay's -auth.cache-ttl (5s is the default)")

// TestRevocationDelay measures, in real time, how long a revocation made
// through one authenticator's admin API takes to reach another process's
// authenticator sharing one Pebble store: that one refuses the key within
// one TTL plus a read. The revoking process refuses it at once.
func TestRevocationDelay(t *testing.T) {
	b := newPebble(t)
	keys := NewKeys(b)
	cfg := testConfig()
	cfg.CacheTTL = *revocationTTL
	local, _ := newAuth(t, cfg, keys, nil)
	remote, _ := newAuth(t, cfg, NewKeys(b), nil)
	runService(t, local)
	runService(t, remote)
	adm := httptest.NewServer(NewAdminHandler(AdminDeps{Keys: keys, Auth: local}))
	t.Cleanup(adm.Close)

	k := mustCreate(t, keys, "team-a", ScopeWrite)
	require.Equal(t, http.StatusOK, pushStatus(local, k.Token.Reveal()))
	require.Equal(t, http.StatusOK, pushStatus(remote, k.Token.Reveal()))

	req, err := http.NewRequest(http.MethodDelete, adm.URL+"/admin/tenants/team-a/keys/"+k.Key.ID, nil)
	require.NoError(t, err)
	resp, err := adm.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	revokedAt := time.Now()
	require.Equal(t, http.StatusUnauthorized, pushStatus(local, k.Token.Reveal()), "the revoking process refuses at once")

	require.Eventually(t, func() bool { return pushStatus(remote, k.Token.Reveal()) == http.StatusUnauthorized },
		10*time.Second, time.Millisecond)
	delay := time.Since(revokedAt)
	require.Less(t, delay, cfg.CacheTTL+time.Second)
	t.Logf("revocation reached the other process after %s (TTL %s)", delay.Round(time.Millisecond), cfg.CacheTTL)
}

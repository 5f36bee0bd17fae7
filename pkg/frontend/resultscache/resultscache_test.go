package resultscache

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestInMemoryBoundedByBytes(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := NewInMemory(3*(entryOverhead+1+100), reg)
	ctx := context.Background()
	val := func(b byte) []byte { return []byte(strings.Repeat(string(b), 100)) }
	c.Store(ctx, "a", val('a'))
	c.Store(ctx, "b", val('b'))
	c.Store(ctx, "c", val('c'))
	require.Len(t, c.Fetch(ctx, []string{"a"}), 1, "a is now the most recent")
	c.Store(ctx, "d", val('d'))
	got := c.Fetch(ctx, []string{"a", "b", "c", "d"})
	require.Equal(t, map[string][]byte{"a": val('a'), "c": val('c'), "d": val('d')}, got, "b, least recently used, evicted")
	require.InDelta(t, 1, testutil.ToFloat64(c.evictions), 0)
	require.InDelta(t, 3*(entryOverhead+1+100), testutil.ToFloat64(c.sizeBytes), 0)

	got["a"][0] = 'x'
	require.Equal(t, val('a'), c.Fetch(ctx, []string{"a"})["a"], "fetched values are copies")

	c.Store(ctx, "huge", make([]byte, 10_000))
	require.Empty(t, c.Fetch(ctx, []string{"huge"}), "larger than the cache")
	c.Store(ctx, "a", val('z'))
	require.Equal(t, val('z'), c.Fetch(ctx, []string{"a"})["a"], "replaced")
	require.InDelta(t, 3, testutil.ToFloat64(c.entries), 0)
}

func TestConfigValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg Config
		err string
	}{
		"inmemory":            {cfg: Config{Backend: BackendInMemory, MaxSizeBytes: 1}},
		"inmemory, no size":   {cfg: Config{Backend: BackendInMemory}, err: "max-size-bytes"},
		"memcached":           {cfg: Config{Backend: BackendMemcached, Memcached: MemcachedConfig{Addresses: "x:1", Timeout: time.Second}}},
		"memcached, no addrs": {cfg: Config{Backend: BackendMemcached, Memcached: MemcachedConfig{Timeout: time.Second}}, err: "addresses"},
		"unknown":             {cfg: Config{Backend: "redis"}, err: "redis"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tc.err)
			}
		})
	}
}

// TestMemcached runs against Debian's memcached binary, installed when
// missing and the test runs as root.
func TestMemcached(t *testing.T) {
	addr := startMemcached(t)
	reg := prometheus.NewPedanticRegistry()
	c, err := New(Config{Backend: BackendMemcached, Memcached: MemcachedConfig{Addresses: addr, Timeout: time.Second, MaxIdleConnections: 2, MaxItemSizeBytes: 1 << 20}}, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	ctx := context.Background()
	c.Store(ctx, "k1", []byte("v1"))
	c.Store(ctx, "k2", []byte("v2"))
	c.Store(ctx, "big", make([]byte, 2<<20))
	require.Equal(t, map[string][]byte{"k1": []byte("v1"), "k2": []byte("v2")}, c.Fetch(ctx, []string{"k1", "k2", "k3", "big"}))
	m := c.(*Memcached)
	require.InDelta(t, 1, testutil.ToFloat64(m.skipped), 0)

	// A server that is gone is a miss, counted, never an error.
	dead, err := New(Config{Backend: BackendMemcached, Memcached: MemcachedConfig{Addresses: freeAddr(t), Timeout: 100 * time.Millisecond}}, slog.New(slog.DiscardHandler), prometheus.NewPedanticRegistry())
	require.NoError(t, err)
	require.Empty(t, dead.Fetch(ctx, []string{"k1"}))
	dead.Store(ctx, "k1", []byte("v"))
	require.InDelta(t, 1, testutil.ToFloat64(dead.(*Memcached).errors.WithLabelValues("fetch")), 0)
	require.InDelta(t, 1, testutil.ToFloat64(dead.(*Memcached).errors.WithLabelValues("store")), 0)
}

// startMemcached starts memcached on a free loopback port for the test and
// returns its address. It installs Debian's package when the binary is
// missing and the test runs as root; otherwise it skips, saying so.
func startMemcached(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		if os.Geteuid() != 0 {
			t.Skip("SKIPPING the memcached integration test: no memcached binary and not root to install it (apt-get install memcached)")
		}
		out, err := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "memcached").CombinedOutput()
		if err != nil {
			t.Skipf("SKIPPING the memcached integration test: apt-get install memcached failed: %v\n%s", err, out)
		}
		if bin, err = exec.LookPath("memcached"); err != nil {
			bin = "/usr/bin/memcached"
		}
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "64", "-u", "nobody")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return false
		}
		_ = conn.Close()
		return true
	}, 10*time.Second, 20*time.Millisecond, "memcached listening on %s", addr)
	return addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

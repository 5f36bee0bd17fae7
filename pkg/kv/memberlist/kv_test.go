package memberlist

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/internal/kvtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testConfig returns a config for a member on a free loopback port that
// joins the given addresses, with fast gossip.
func testConfig(t testing.TB, join ...string) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	cfg.BindAddr = "127.0.0.1"
	cfg.BindPort = 0
	cfg.Join = join
	cfg.GossipInterval = 20 * time.Millisecond
	cfg.PushPullInterval = 0 // prove that broadcasts alone converge
	cfg.RejoinInterval = 0
	cfg.LeaveTimeout = 200 * time.Millisecond
	return cfg
}

// startKV starts a KV and stops it at the end of the test.
func startKV(t *testing.T, cfg Config, reg prometheus.Registerer) (*KV, kv.Client) {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	k, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	client := k.Client(kvtest.Codec{})
	require.NoError(t, k.Service().StartAsync(context.Background()))
	require.NoError(t, k.Service().AwaitRunning(t.Context()))
	t.Cleanup(func() { stopKV(t, k) })
	return k, client
}

// startKVWithKey is startKV with a gossip key.
func startKVWithKey(t *testing.T, cfg Config, key []byte, reg prometheus.Registerer) (*KV, kv.Client) {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	k, err := NewWithKey(cfg, key, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	client := k.Client(kvtest.Codec{})
	require.NoError(t, k.Service().StartAsync(context.Background()))
	require.NoError(t, k.Service().AwaitRunning(t.Context()))
	t.Cleanup(func() { stopKV(t, k) })
	return k, client
}

func stopKV(t *testing.T, k *KV) {
	t.Helper()
	k.Service().StopAsync()
	require.NoError(t, k.Service().AwaitTerminated(context.Background()))
}

func put(t *testing.T, c kv.Client, key, name string, version int64, value string) {
	t.Helper()
	require.NoError(t, c.Update(t.Context(), key, func(kv.Mergeable) (kv.Mergeable, bool, error) {
		return kvtest.Map{name: {Version: version, Value: value}}, false, nil
	}))
}

func eventuallyEqual(t *testing.T, c kv.Client, key string, want kvtest.Map) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, err := c.Get(t.Context(), key)
		return err == nil && v != nil && reflect.DeepEqual(v, want)
	}, 10*time.Second, 10*time.Millisecond, "key %s never became %v", key, want)
}

func TestThreeMembersConverge(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	k1, c1 := startKV(t, testConfig(t), reg)
	put(t, c1, "ring-a", "before-join", 1, "x") // state before others join travels by push/pull
	k2, c2 := startKV(t, testConfig(t, k1.Addr()), nil)
	_, c3 := startKV(t, testConfig(t, k2.Addr()), nil)

	require.Eventually(t, func() bool { return len(k1.Members()) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hearth_memberlist_members Members of the gossip cluster this process knows to be alive, itself included.
# TYPE hearth_memberlist_members gauge
hearth_memberlist_members 3
`), "hearth_memberlist_members"))

	put(t, c3, "ring-a", "from-3", 1, "y")
	put(t, c2, "ring-b", "from-2", 1, "z") // a second key on the same memberlist
	want := kvtest.Map{"before-join": {Version: 1, Value: "x"}, "from-3": {Version: 1, Value: "y"}}
	for _, c := range []kv.Client{c1, c2, c3} {
		eventuallyEqual(t, c, "ring-a", want)
		eventuallyEqual(t, c, "ring-b", kvtest.Map{"from-2": {Version: 1, Value: "z"}})
	}

	// Concurrent changes to one entry converge on the greater one.
	put(t, c1, "ring-a", "from-3", 2, "p")
	put(t, c2, "ring-a", "from-3", 2, "q")
	want["from-3"] = kvtest.Register{Version: 2, Value: "q"}
	for _, c := range []kv.Client{c1, c2, c3} {
		eventuallyEqual(t, c, "ring-a", want)
	}

	// A change too large for a UDP packet goes over TCP.
	big := strings.Repeat("b", 5000)
	put(t, c1, "ring-a", "big", 1, big)
	want["big"] = kvtest.Register{Version: 1, Value: big}
	for _, c := range []kv.Client{c2, c3} {
		eventuallyEqual(t, c, "ring-a", want)
	}
}

func TestWatchSeesRemoteChanges(t *testing.T) {
	k1, c1 := startKV(t, testConfig(t), nil)
	_, c2 := startKV(t, testConfig(t, k1.Addr()), nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	seen := make(chan kv.Mergeable, 10)
	go c2.WatchKey(ctx, "k", func(v kv.Mergeable) bool { seen <- v; return false })
	put(t, c1, "k", "a", 1, "v")
	require.Equal(t, kvtest.Map{"a": {Version: 1, Value: "v"}}, <-seen)
}

func TestTombstonesExpire(t *testing.T) {
	cfg := testConfig(t)
	cfg.LeftInstancesTimeout = 200 * time.Millisecond
	reg := prometheus.NewPedanticRegistry()
	_, c := startKV(t, cfg, reg)
	require.NoError(t, c.Update(t.Context(), "k", func(kv.Mergeable) (kv.Mergeable, bool, error) {
		return kvtest.Map{
			"gone":  {Version: time.Now().UnixMilli(), Deleted: true},
			"alive": {Version: 1},
		}, false, nil
	}))
	eventuallyEqual(t, c, "k", kvtest.Map{"alive": {Version: 1}})
	require.Equal(t, 1.0, metricValue(t, reg, "hearth_memberlist_tombstones_removed_total"))
}

// TestSecretKey: with a gossip key, a member without it or with another
// one is refused: it is in nobody's member list, its state is never
// merged, and it learns none of the cluster's.
func TestSecretKey(t *testing.T) {
	derived := bytes.Repeat([]byte{7}, 32) // as the wiring derives from the cluster secret
	for name, keyed := range map[string]func(join ...string) (*KV, kv.Client){
		"-memberlist.secret-key": func(join ...string) (*KV, kv.Client) {
			cfg := testConfig(t, join...)
			cfg.SecretKey = "s3cret"
			return startKV(t, cfg, nil)
		},
		"a derived key": func(join ...string) (*KV, kv.Client) {
			return startKVWithKey(t, testConfig(t, join...), derived, nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			k1, c1 := keyed()
			k2, c2 := keyed(k1.Addr())
			require.True(t, k1.Encrypted())
			put(t, c1, "ring", "k1", 1, "v")
			eventuallyEqual(t, c2, "ring", kvtest.Map{"k1": {Version: 1, Value: "v"}})

			for name, key := range map[string][]byte{"no key": nil, "another key": bytes.Repeat([]byte{8}, 32)} {
				t.Run(name, func(t *testing.T) {
					reg := prometheus.NewPedanticRegistry()
					cfg := testConfig(t, k1.Addr(), k2.Addr())
					stranger, err := NewWithKey(cfg, key, slog.New(slog.DiscardHandler), reg)
					require.NoError(t, err)
					sc := stranger.Client(kvtest.Codec{})
					// State the stranger holds before joining would travel in
					// the join's push/pull.
					put(t, sc, "ring", "stranger", 9, "ACTIVE")
					require.NoError(t, stranger.Service().StartAsync(context.Background()))
					require.NoError(t, stranger.Service().AwaitRunning(t.Context()))
					t.Cleanup(func() { stopKV(t, stranger) })

					// The join ran while the service started, and failed.
					require.GreaterOrEqual(t, metricValue(t, reg, "hearth_memberlist_join_failures_total"), 1.0)
					require.Equal(t, []string{stranger.NodeName()}, stranger.Members())
					// Gossip between the keyed members goes on; once a change
					// made after the stranger's attempt has travelled, the
					// stranger's state is still not merged, and it has
					// learned nothing.
					put(t, c2, "ring", "k2", 1, "after")
					want := kvtest.Map{"k1": {Version: 1, Value: "v"}, "k2": {Version: 1, Value: "after"}}
					eventuallyEqual(t, c1, "ring", want)
					for _, k := range []*KV{k1, k2} {
						require.NotContains(t, k.Members(), stranger.NodeName())
						require.Len(t, k.Members(), 2)
					}
					v, err := sc.Get(t.Context(), "ring")
					require.NoError(t, err)
					require.Equal(t, kvtest.Map{"stranger": {Version: 9, Value: "ACTIVE"}}, v)
				})
			}
		})
	}
}

func TestNewWithKeyRefusesBadKeys(t *testing.T) {
	_, err := NewWithKey(testConfig(t), []byte("short"), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.ErrorContains(t, err, "want 16, 24 or 32")
}

func TestJoinResolvesNames(t *testing.T) {
	k1, _ := startKV(t, testConfig(t), nil)
	_, port, _ := strings.Cut(k1.Addr(), ":")
	k2, _ := startKV(t, testConfig(t, "localhost:"+port), nil)
	require.Eventually(t, func() bool { return len(k2.Members()) == 2 }, 10*time.Second, 10*time.Millisecond)
}

func TestRejoinAfterFailedJoin(t *testing.T) {
	// The first member is not up when the second starts: the second keeps
	// trying until it is.
	probe, _ := startKV(t, testConfig(t), nil)
	addr := probe.Addr()
	stopKV(t, probe)

	k2, _ := startKV(t, testConfig(t, addr), nil)
	require.Len(t, k2.Members(), 1)
	_, port, _ := strings.Cut(addr, ":")
	cfg := testConfig(t)
	cfg.BindPort = atoi(t, port)
	startKV(t, cfg, nil)
	require.Eventually(t, func() bool { return len(k2.Members()) == 2 }, 10*time.Second, 10*time.Millisecond)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		require.True(t, c >= '0' && c <= '9')
		n = n*10 + int(c-'0')
	}
	return n
}

func TestBroadcastInvalidates(t *testing.T) {
	b := func(key string, content ...string) *broadcast { return &broadcast{key: key, content: content} }
	require.True(t, b("k", "a", "b").Invalidates(b("k", "a")))
	require.True(t, b("k", "a").Invalidates(b("k", "a")))
	require.False(t, b("k", "a").Invalidates(b("k", "a", "b")))
	require.False(t, b("k", "a").Invalidates(b("other", "a")))
}

func TestConfigFlagsMatchYAML(t *testing.T) {
	var cfg Config
	f := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(f)
	require.NoError(t, cfg.Validate())
	before := yamlMap(t, &cfg)
	n := 0
	f.VisitAll(func(fl *flag.Flag) {
		n++
		key := strings.ReplaceAll(strings.TrimPrefix(fl.Name, "memberlist."), "-", "_")
		saved := cfg
		for _, v := range []string{"7s", "7"} {
			if f.Set(fl.Name, v) == nil {
				break
			}
		}
		after := yamlMap(t, &cfg)
		var changed []string
		for k := range after {
			if !reflect.DeepEqual(before[k], after[k]) {
				changed = append(changed, k)
			}
		}
		require.Equal(t, []string{key}, changed, "flag -%s", fl.Name)
		cfg = saved
	})
	require.Len(t, before, n)
}

func yamlMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	m := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &m))
	return m
}

func TestConfigValidate(t *testing.T) {
	cfg := testConfig(t)
	cfg.BindAddr = "not-an-ip"
	cfg.GossipNodes = 0
	cfg.BindPort = 70000
	err := cfg.Validate()
	require.ErrorContains(t, err, "memberlist.bind-addr")
	require.ErrorContains(t, err, "memberlist.gossip-nodes")
	require.ErrorContains(t, err, "memberlist.bind-port")
}

func metricValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

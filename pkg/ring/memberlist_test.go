package ring

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/services"
)

// node is one process of the test: a memberlist KV carrying two rings,
// each with a ring and a lifecycler.
type node struct {
	kv       *memberlist.KV
	rings    map[string]*Ring
	lcs      map[string]*Lifecycler
	services []*services.Service
}

func startNode(t *testing.T, i int, join ...string) *node {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewPedanticRegistry() // one per process, shared by all its components

	var mlCfg memberlist.Config
	mlCfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	mlCfg.NodeName = fmt.Sprintf("node-%d", i)
	mlCfg.BindAddr, mlCfg.BindPort = "127.0.0.1", 0
	mlCfg.Join = join
	mlCfg.GossipInterval = 20 * time.Millisecond
	mlCfg.LeaveTimeout = 200 * time.Millisecond
	mlCfg.LeftInstancesTimeout = 2 * time.Second
	mkv, err := memberlist.New(mlCfg, logger, reg)
	require.NoError(t, err)
	client := mkv.Client(Codec()) // one client serves every ring

	n := &node{kv: mkv, rings: map[string]*Ring{}, lcs: map[string]*Lifecycler{}, services: []*services.Service{mkv.Service()}}
	for _, name := range []string{"ingester", "distributor"} {
		var cfg Config
		cfg.RegisterFlagsWithPrefix(name+".ring.", flag.NewFlagSet("test", flag.PanicOnError))
		cfg.InstanceID = fmt.Sprintf("%s-%d", name, i)
		cfg.InstanceAddr = "127.0.0.1"
		cfg.InstancePort = 9000 + i
		cfg.HeartbeatPeriod = 100 * time.Millisecond
		cfg.NumTokens = 32
		r, err := New(cfg, name, client, logger, reg)
		require.NoError(t, err)
		lc, err := NewLifecycler(cfg, name, client, logger, reg)
		require.NoError(t, err)
		n.rings[name], n.lcs[name] = r, lc
		n.services = append(n.services, r.Service(), lc.Service())
	}
	for _, s := range n.services {
		require.NoError(t, s.StartAsync(context.Background()))
		require.NoError(t, s.AwaitRunning(t.Context()))
	}
	t.Cleanup(func() { n.stop(t) })
	return n
}

// stop stops the node's services in reverse order, as a Manager would.
func (n *node) stop(t *testing.T) {
	t.Helper()
	for i := len(n.services) - 1; i >= 0; i-- {
		n.services[i].StopAsync()
		require.NoError(t, n.services[i].AwaitTerminated(context.Background()))
	}
}

func TestRingOverMemberlist(t *testing.T) {
	n0 := startNode(t, 0)
	n1 := startNode(t, 1, n0.kv.Addr())
	n2 := startNode(t, 2, n1.kv.Addr())
	nodes := []*node{n0, n1, n2}

	healthy := func(name string, want int) {
		t.Helper()
		for i, n := range nodes {
			require.Eventually(t, func() bool {
				return n.rings[name].HealthyInstancesCount() == want && n.rings[name].InstancesCount() == want
			}, 10*time.Second, 10*time.Millisecond, "node %d, ring %s", i, name)
		}
	}
	healthy("ingester", 3)
	healthy("distributor", 3)

	// Every process computes the same replica sets.
	for key := uint32(0); key < 1<<32-1<<28; key += 1 << 28 {
		var want []string
		for _, n := range nodes {
			set, err := n.rings["ingester"].Get(key, Write, nil)
			require.NoError(t, err)
			if want == nil {
				want = ids(set.Instances)
			}
			require.Equal(t, want, ids(set.Instances))
		}
	}

	// ingester-2 leaves the ingester ring: the others see it go, the
	// distributor ring is untouched.
	require.NoError(t, n2.lcs["ingester"].Service().AwaitRunning(t.Context()))
	n2.lcs["ingester"].Service().StopAsync()
	require.NoError(t, n2.lcs["ingester"].Service().AwaitTerminated(context.Background()))
	for i, n := range nodes[:2] {
		require.Eventually(t, func() bool { return n.rings["ingester"].InstancesCount() == 2 }, 10*time.Second, 10*time.Millisecond, "node %d", i)
		require.Equal(t, 3, n.rings["distributor"].InstancesCount())
	}

	// Its tombstone expires after -memberlist.left-instances-timeout.
	for i, n := range nodes[:2] {
		require.Eventually(t, func() bool {
			_, ok := n.rings["ingester"].Status().instance("ingester-2")
			return !ok
		}, 10*time.Second, 20*time.Millisecond, "node %d", i)
	}
}

func (s Status) instance(id string) (InstanceStatus, bool) {
	for _, in := range s.Instances {
		if in.ID == id {
			return in, true
		}
	}
	return InstanceStatus{}, false
}

package ruler

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// evalLog records every rule result pushed: per series name, how many
// times each timestamp was written.
type evalLog struct {
	mu     sync.Mutex
	writes map[string]map[int64]int
}

func (l *evalLog) push(_ context.Context, series []ingesterpb.TimeSeries) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ts := range series {
		var name string
		for _, lp := range ts.Labels {
			if lp.Name == "__name__" {
				name = lp.Value
			}
		}
		if l.writes[name] == nil {
			l.writes[name] = map[int64]int{}
		}
		for _, s := range ts.Samples {
			l.writes[name][s.TimestampMs]++
		}
	}
	return nil
}

// between returns, per series, the timestamps written in [from, to) and
// how many times each was.
func (l *evalLog) between(from, to time.Time) map[string]map[int64]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]map[int64]int{}
	for name, ts := range l.writes {
		out[name] = map[int64]int{}
		for t, n := range ts {
			if t >= from.UnixMilli() && t < to.UnixMilli() {
				out[name][t] = n
			}
		}
	}
	return out
}

const clusterHeartbeatTimeout = 2 * time.Second

// rulerNode is one ruler process: its memberlist, ring, lifecycler and
// ruler, stopped in reverse order.
type rulerNode struct {
	kv   *memberlist.KV
	svcs []*services.Service
	once sync.Once
}

func startRulerNode(t *testing.T, i int, store Store, log *evalLog, join ...string) *rulerNode {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewPedanticRegistry()
	var mlCfg memberlist.Config
	mlCfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	mlCfg.NodeName = fmt.Sprintf("node-%d", i)
	mlCfg.BindAddr, mlCfg.BindPort = "127.0.0.1", 0
	mlCfg.Join = join
	mlCfg.GossipInterval = 20 * time.Millisecond
	mlCfg.LeaveTimeout = 200 * time.Millisecond
	mkv, err := memberlist.New(mlCfg, logger, reg)
	require.NoError(t, err)
	client := mkv.Client(ring.Codec())

	cfg := testConfig(t)
	cfg.Ring.InstanceID = fmt.Sprintf("ruler-%d", i)
	cfg.Ring.InstanceAddr = "127.0.0.1"
	cfg.Ring.InstancePort = 9000 + i
	cfg.Ring.HeartbeatPeriod = 200 * time.Millisecond
	cfg.Ring.HeartbeatTimeout = clusterHeartbeatTimeout
	cfg.Ring.NumTokens = 32
	cfg.RingCheckPeriod = 200 * time.Millisecond
	r, err := ring.New(cfg.Ring, "ruler", client, logger, reg)
	require.NoError(t, err)
	lc, err := ring.NewLifecycler(cfg.Ring, "ruler", client, logger, reg)
	require.NoError(t, err)
	rl, err := New(Deps{
		Config: cfg, Store: store, Ring: r, InstanceID: cfg.Ring.InstanceID,
		Queryable: teststorage.New(t), Engine: testEngine(), Push: log.push,
		Logger: logger, Registerer: reg,
	})
	require.NoError(t, err)
	n := &rulerNode{kv: mkv, svcs: []*services.Service{mkv.Service(), r.Service(), lc.Service(), rl.Service()}}
	for _, s := range n.svcs {
		require.NoError(t, s.StartAsync(context.Background()))
		require.NoError(t, s.AwaitRunning(t.Context()))
	}
	t.Cleanup(func() { n.kill(t) })
	return n
}

// kill stops the node as a crash would look to the others: its ring entry
// stays, without heartbeats, until the heartbeat timeout.
func (n *rulerNode) kill(t *testing.T) {
	n.once.Do(func() {
		for i := len(n.svcs) - 1; i >= 0; i-- {
			n.svcs[i].StopAsync()
			require.NoError(t, n.svcs[i].AwaitTerminated(context.Background()))
		}
	})
}

// TestRulersEvaluateEachSlotOnce runs two and three rulers over a shared
// store: in steady state every group's every evaluation slot is written
// exactly once; after one ruler dies, the others take its groups within the
// ring's heartbeat timeout (plus the ring check period).
func TestRulersEvaluateEachSlotOnce(t *testing.T) {
	for _, rulers := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d rulers", rulers), func(t *testing.T) {
			const groups = 12
			store := newMemStore()
			var file strings.Builder
			file.WriteString("groups:\n")
			for g := range groups {
				fmt.Fprintf(&file, "- name: g%d\n  interval: 1s\n  rules:\n  - record: r%d\n    expr: vector(1)\n", g, g)
			}
			store.set(t, "team-a", "ns", file.String())
			log := &evalLog{writes: map[string]map[int64]int{}}
			nodes := []*rulerNode{startRulerNode(t, 0, store, log)}
			for i := 1; i < rulers; i++ {
				nodes = append(nodes, startRulerNode(t, i, store, log, nodes[0].kv.Addr()))
			}

			// Steady state: every group written at every one of 4 slots,
			// each slot once.
			checkWindow := func(from time.Time) {
				t.Helper()
				to := from.Add(4 * time.Second)
				require.Eventually(t, func() bool { return time.Now().After(to.Add(time.Second)) }, 10*time.Second, 50*time.Millisecond)
				got := log.between(from, to)
				for g := range groups {
					slots := got[fmt.Sprintf("r%d", g)]
					require.Len(t, slots, 4, "group g%d: slots %v", g, slots)
					for ts, n := range slots {
						require.Equal(t, 1, n, "group g%d slot %d written %d times", g, ts, n)
					}
				}
			}
			// Wait until the ring has settled: every ruler sees them all.
			require.Eventually(t, func() bool {
				got := log.between(time.Now().Add(-1500*time.Millisecond), time.Now())
				for g := range groups {
					if len(got[fmt.Sprintf("r%d", g)]) == 0 {
						return false
					}
				}
				return true
			}, 20*time.Second, 100*time.Millisecond)
			settle := time.Now().Add(2 * time.Second)
			checkWindow(settle)

			// Kill one: within the heartbeat timeout plus a ring check and
			// a slot, every group is written again, each slot once.
			killed := time.Now()
			nodes[len(nodes)-1].kill(t)
			checkWindow(killed.Add(clusterHeartbeatTimeout + 2*time.Second))
		})
	}
}

package ruler

import (
	"context"
	"flag"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// memStore is an in-memory [Store].
type memStore struct {
	mu     sync.Mutex
	groups map[tenant.ID][]RuleGroup
}

func newMemStore() *memStore { return &memStore{groups: map[tenant.ID][]RuleGroup{}} }

func (s *memStore) ListTenants(context.Context) ([]tenant.ID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []tenant.ID
	for t, g := range s.groups {
		if len(g) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *memStore) ListGroups(_ context.Context, t tenant.ID) ([]RuleGroup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RuleGroup(nil), s.groups[t]...), nil
}

// set replaces the tenant's groups by those of a rule file's YAML, all in
// namespace ns.
func (s *memStore) set(t testing.TB, tn tenant.ID, ns, rulesYAML string) {
	t.Helper()
	var rgs rulefmt.RuleGroups
	require.NoError(t, yaml.Unmarshal([]byte(rulesYAML), &rgs))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[tn] = nil
	for _, g := range rgs.Groups {
		s.groups[tn] = append(s.groups[tn], RuleGroup{Namespace: ns, RuleGroup: g})
	}
}

// testConfig is the flags' defaults, with fast polling.
func testConfig(t testing.TB) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	cfg.Ring.InstanceID = "ruler-1"
	cfg.PollInterval = 100 * time.Millisecond
	cfg.RingCheckPeriod = 100 * time.Millisecond
	cfg.ResendDelay = 100 * time.Millisecond
	require.NoError(t, cfg.Validate())
	return cfg
}

// storagePush pushes into a TSDB, as the distributor would into ingesters.
func storagePush(db *teststorage.TestStorage) PushFunc {
	return func(ctx context.Context, series []ingesterpb.TimeSeries) error {
		app := db.Appender(ctx)
		for _, ts := range series {
			b := labels.NewScratchBuilder(len(ts.Labels))
			for _, l := range ts.Labels {
				b.Add(l.Name, l.Value)
			}
			b.Sort()
			ls := b.Labels()
			for _, s := range ts.Samples {
				if _, err := app.Append(0, ls, s.TimestampMs, s.Value); err != nil {
					_ = app.Rollback()
					return err
				}
			}
		}
		return app.Commit()
	}
}

func testEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 1e7, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
}

type harness struct {
	ruler *Ruler
	store *memStore
	db    *teststorage.TestStorage
	reg   *prometheus.Registry
	stop  func()
}

// alerts returns the active alerts of the tenant's rule named rule.
func (h *harness) alerts(t *testing.T, tn tenant.ID, rule string) []AlertState {
	t.Helper()
	groups, err := h.ruler.Groups(tenant.WithID(context.Background(), tn), StateFilter{RuleNames: []string{rule}})
	require.NoError(t, err)
	for _, g := range groups {
		for _, r := range g.Rules {
			return r.Alerts
		}
	}
	return nil
}

// metric returns the value of the gathered series of name with the given
// labels, and whether it exists.
func (h *harness) metric(t *testing.T, name string, lbls map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range lbls {
				if got[k] != v {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			}
			return 0, true
		}
	}
	return 0, false
}

// startRulerB is startRuler for benchmarks: a ruler over an empty TSDB.
func startRulerB(b *testing.B, cfg Config, store *memStore) *harness {
	b.Helper()
	db := teststorage.New(b)
	reg := prometheus.NewRegistry()
	r, err := New(Deps{Config: cfg, Store: store, Queryable: db, Engine: testEngine(), Push: storagePush(db), Registerer: reg})
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, r.Service().StartAsync(ctx))
	require.NoError(b, r.Service().AwaitRunning(ctx))
	h := &harness{ruler: r, store: store, db: db, reg: reg}
	h.stop = sync.OnceFunc(func() {
		r.Service().StopAsync()
		require.NoError(b, r.Service().AwaitTerminated(ctx))
	})
	b.Cleanup(h.stop)
	return h
}

// startRuler runs a ruler over a fresh TSDB until the test ends.
func startRuler(t *testing.T, cfg Config, lim *limits.Overrides, store *memStore, db *teststorage.TestStorage) *harness {
	t.Helper()
	if db == nil {
		db = teststorage.New(t)
	}
	if store == nil {
		store = newMemStore()
	}
	reg := prometheus.NewPedanticRegistry()
	d := Deps{
		Config: cfg, Store: store, Queryable: db, Engine: testEngine(), Push: storagePush(db),
		Logger: slog.New(slog.DiscardHandler), Registerer: reg,
	}
	if lim != nil {
		d.Limits = lim
	}
	r, err := New(d)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, r.Service().StartAsync(ctx))
	h := &harness{ruler: r, store: store, db: db, reg: reg}
	h.stop = sync.OnceFunc(func() {
		r.Service().StopAsync()
		require.NoError(t, r.Service().AwaitTerminated(ctx))
	})
	t.Cleanup(h.stop)
	require.NoError(t, r.Service().AwaitRunning(ctx))
	return h
}

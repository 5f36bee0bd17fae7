package usage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

// openTable opens a real embedded table in a temporary directory.
func openTable(t *testing.T) *pebble.Backend {
	t.Helper()
	o := pebble.DefaultOptions()
	o.Dir = t.TempDir()
	o.NoSync = true
	b, err := pebble.Open(o, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// proc is one process's registry, its components' counters (registered
// as the components do, through the ledger's wrapper) and its ledger.
type proc struct {
	reg       *prometheus.Registry
	ledger    *Ledger
	samples   *prometheus.CounterVec
	discarded *prometheus.CounterVec
	flushed   *prometheus.CounterVec
}

func startProc(t *testing.T, table Table, instance string) *proc {
	t.Helper()
	return newProc(t, table, instance, true)
}

func newProc(t *testing.T, table Table, instance string, load bool) *proc {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	l, err := New(Deps{
		Config:     Config{PersistInterval: time.Hour, StoreScanInterval: time.Hour, InstanceID: instance},
		Table:      table,
		Gatherer:   reg,
		Registerer: reg,
	})
	require.NoError(t, err)
	l.readSyncEvery = 0 // Reads see every increment at once.
	f := promauto.With(l.WrapRegisterer(reg))
	p := &proc{
		reg:    reg,
		ledger: l,
		samples: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_distributor_received_samples_total", Help: "h",
		}, []string{"tenant"}),
		discarded: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_discarded_samples_total", Help: "h",
		}, []string{"tenant", "reason"}),
		flushed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ingester_tenant_flushed_bytes_total", Help: "h",
		}, []string{"tenant"}),
	}
	if load {
		require.NoError(t, l.load(context.Background()))
	}
	return p
}

func value(u TenantUsage, name string, lbls map[string]string) uint64 {
	for _, c := range u.Counters {
		if c.Name == name && len(c.Labels) == len(lbls) {
			same := true
			for k, v := range lbls {
				if c.Labels[k] != v {
					same = false
				}
			}
			if same {
				return c.Value
			}
		}
	}
	return 0
}

func usageOf(t *testing.T, l *Ledger, tn string) TenantUsage {
	t.Helper()
	u, err := l.Usage(context.Background(), tenant.ID(tn))
	require.NoError(t, err)
	return u
}

const samplesName = "hearth_distributor_received_samples_total"

func TestLedgerContinuesAcrossARestart(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	p := startProc(t, table, "host-1")
	p.samples.WithLabelValues("team-a").Add(1000)
	p.discarded.WithLabelValues("team-a", "rate_limited").Add(7)
	p.samples.WithLabelValues("team-b").Add(5)
	require.NoError(t, p.ledger.Persist(ctx))
	p.samples.WithLabelValues("team-a").Add(24) // Counted after the write: the stop writes it.
	require.NoError(t, p.ledger.stop(nil))

	// The restarted process continues its counters from the table.
	q := startProc(t, table, "host-1")
	require.InDelta(t, 1024, testCounter(q.samples.WithLabelValues("team-a")), 0)
	require.InDelta(t, 7, testCounter(q.discarded.WithLabelValues("team-a", "rate_limited")), 0)
	q.samples.WithLabelValues("team-a").Add(6)
	u := usageOf(t, q.ledger, "team-a")
	require.Equal(t, uint64(1030), value(u, samplesName, nil))
	require.Equal(t, uint64(7), value(u, "hearth_discarded_samples_total", map[string]string{"reason": "rate_limited"}))
	require.NoError(t, q.ledger.Persist(ctx))
	// Written once, not twice: the continued counter's offset is no increase.
	r := startProc(t, table, "host-1")
	require.Equal(t, uint64(1030), value(usageOf(t, r.ledger, "team-a"), samplesName, nil))
	require.Equal(t, uint64(5), value(usageOf(t, r.ledger, "team-b"), samplesName, nil))
}

func testCounter(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// TestLedgerLoadsLate: a process that could not read the store at start
// counts from zero, and loading later adds the persisted totals.
func TestLedgerLoadsLate(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	p := startProc(t, table, "i")
	p.samples.WithLabelValues("team-a").Add(100)
	require.NoError(t, p.ledger.stop(nil))

	q := newProc(t, table, "i", false)
	q.samples.WithLabelValues("team-a").Add(5)
	require.NoError(t, q.ledger.Persist(ctx), "nothing is written before the load")
	require.Equal(t, uint64(100), value(usageOf(t, q.ledger, "team-a"), samplesName, nil), "the stored row until then")
	require.NoError(t, q.ledger.load(ctx))
	require.InDelta(t, 105, testCounter(q.samples.WithLabelValues("team-a")), 0)
	require.Equal(t, uint64(105), value(usageOf(t, q.ledger, "team-a"), samplesName, nil))
	require.NoError(t, q.ledger.stop(nil))
	require.Equal(t, uint64(105), value(usageOf(t, startProc(t, table, "i").ledger, "team-a"), samplesName, nil))
}

func TestLedgerSumsInstances(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	old := startProc(t, table, "pod-old")
	old.samples.WithLabelValues("team-a").Add(100)
	require.NoError(t, old.ledger.Persist(ctx))
	// A Deployment's new pod: another instance ID, its own row, summed.
	n := startProc(t, table, "pod-new")
	require.Zero(t, testCounter(n.samples.WithLabelValues("team-a")), "a new instance starts its own counters")
	n.samples.WithLabelValues("team-a").Add(11)
	require.Equal(t, uint64(111), value(usageOf(t, n.ledger, "team-a"), samplesName, nil), "live totals of this process plus the other's row")
	require.NoError(t, n.ledger.Persist(ctx))
	all, err := old.ledger.AllUsage(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "team-a", all[0].Tenant)
	require.Equal(t, uint64(111), value(all[0], samplesName, nil))
}

func TestLedgerCountsResetSeries(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	p := startProc(t, table, "i")
	p.flushed.WithLabelValues("team-a").Add(300)
	require.NoError(t, p.ledger.Persist(ctx))
	// The flusher drops an idle tenant's series; it comes back from zero.
	p.flushed.DeleteLabelValues("team-a")
	require.NoError(t, p.ledger.Persist(ctx))
	p.flushed.WithLabelValues("team-a").Add(50)
	require.Equal(t, uint64(350), value(usageOf(t, p.ledger, "team-a"), "hearth_ingester_tenant_flushed_bytes_total", nil))
	// Dropped and made again between two reads, below its old value.
	p.flushed.DeleteLabelValues("team-a")
	p.flushed.WithLabelValues("team-a").Add(20)
	require.Equal(t, uint64(370), value(usageOf(t, p.ledger, "team-a"), "hearth_ingester_tenant_flushed_bytes_total", nil))
}

// TestLedgerKeepsUncontinuableCounters covers counters the ledger cannot
// continue (registered elsewhere, with labels it sums over, as the
// ruler's per-tenant rule evaluations): the ledger's total still is.
func TestLedgerKeepsUncontinuableCounters(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	run := func(n float64) *Ledger {
		reg := prometheus.NewPedanticRegistry()
		l, err := New(Deps{Config: Config{PersistInterval: time.Hour, StoreScanInterval: time.Hour, InstanceID: "r"}, Table: table, Gatherer: reg, Registerer: reg})
		require.NoError(t, err)
		evals := promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "prometheus_rule_evaluations_total", Help: "h"}, []string{"tenant", "rule_group"})
		require.NoError(t, l.load(ctx))
		evals.WithLabelValues("team-a", "g1").Add(n)
		evals.WithLabelValues("team-a", "g2").Add(1)
		require.NoError(t, l.stop(nil))
		return l
	}
	run(10)
	l := run(20)
	require.Equal(t, uint64(32), value(usageOf(t, l, "team-a"), "prometheus_rule_evaluations_total", nil))
}

func TestLedgerTenantDeletion(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	a := startProc(t, table, "a")
	b := startProc(t, table, "b")
	a.samples.WithLabelValues("team-a").Add(10)
	b.samples.WithLabelValues("team-a").Add(20)
	b.samples.WithLabelValues("team-b").Add(1)
	require.NoError(t, a.ledger.Persist(ctx))
	require.NoError(t, b.ledger.Persist(ctx))
	require.Equal(t, uint64(30), value(usageOf(t, a.ledger, "team-a"), samplesName, nil))

	// Process a deletes the tenant: it forgets its totals, then the rows go.
	require.NoError(t, a.ledger.DeleteTenant(ctx, "team-a"))
	require.NoError(t, widecolumn.DeleteTenant(ctx, table, "team-a"))
	u := usageOf(t, a.ledger, "team-a")
	require.Empty(t, u.Counters)
	all, err := a.ledger.AllUsage(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1, "only team-b left")
	require.Equal(t, "team-b", all[0].Tenant)

	// The tenant comes back. Process b counted it before and finds its
	// row gone at its next write: it starts again from what it counted
	// since its last write, never writing the old totals back.
	a.samples.WithLabelValues("team-a").Add(3)
	b.samples.WithLabelValues("team-a").Add(4)
	require.NoError(t, a.ledger.Persist(ctx))
	require.NoError(t, b.ledger.Persist(ctx))
	require.Equal(t, uint64(7), value(usageOf(t, a.ledger, "team-a"), samplesName, nil))
	require.Equal(t, uint64(1), value(usageOf(t, a.ledger, "team-b"), samplesName, nil))
}

func TestHandlersServeOnlyTheTenantAsked(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	p := startProc(t, table, "i")
	p.samples.WithLabelValues("team-a").Add(2)
	p.samples.WithLabelValues("team-b").Add(3)
	require.NoError(t, p.ledger.Persist(ctx))

	for name, tc := range map[string]struct {
		tenant string
		code   int
		want   uint64
	}{
		"team-a sees its own":    {"team-a", http.StatusOK, 2},
		"team-b sees its own":    {"team-b", http.StatusOK, 3},
		"an idle tenant, zero":   {"team-c", http.StatusOK, 0},
		"a federated tenant, no": {"team-a|team-b", http.StatusBadRequest, 0},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/usage", nil)
			r = r.WithContext(tenant.WithID(r.Context(), tenant.ID(tc.tenant)))
			w := httptest.NewRecorder()
			p.ledger.TenantHandler().ServeHTTP(w, r)
			require.Equal(t, tc.code, w.Code, w.Body.String())
			if tc.code != http.StatusOK {
				return
			}
			var u TenantUsage
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &u))
			require.Equal(t, tc.tenant, u.Tenant)
			require.Equal(t, tc.want, value(u, samplesName, nil))
			for _, c := range u.Counters {
				require.NotEqual(t, "team-b", c.Labels["tenant"])
			}
		})
	}

	w := httptest.NewRecorder()
	p.ledger.OperatorHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/usage", nil))
	require.Equal(t, http.StatusOK, w.Code)
	var all struct{ Tenants []TenantUsage }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &all))
	require.Len(t, all.Tenants, 2)
	w = httptest.NewRecorder()
	p.ledger.OperatorHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/usage?tenant=..", nil))
	require.Equal(t, http.StatusBadRequest, w.Code)
}

func TestDescName(t *testing.T) {
	d := prometheus.NewDesc("hearth_x_total", `help with "quotes"`, []string{"tenant"}, nil)
	require.Equal(t, "hearth_x_total", descName(d))
}

func FuzzColumnDecode(f *testing.F) {
	f.Add([]byte(EncodeColumn("hearth_discarded_samples_total", "reason", "rate_limited")))
	f.Add([]byte(EncodeColumn("n")))
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		name, lbls, err := Column(b).Decode()
		if err != nil {
			return
		}
		// What decodes encodes back to a column decoding the same.
		var pairs []string
		for k, v := range lbls {
			pairs = append(pairs, k, v)
		}
		n2, l2, err := EncodeColumn(name, pairs...).Decode()
		require.NoError(t, err)
		require.Equal(t, name, n2)
		require.Equal(t, lbls, l2)
	})
}

package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	dto "github.com/prometheus/client_model/go"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Family is one billing counter: a counter family of the process's
// registry with a tenant label. Labels are the labels the ledger keeps
// beside the tenant (reason, api); it sums over the others.
type Family struct {
	Name   string
	Labels []string
}

// DefaultFamilies are the billing counters (docs/usage.md).
var DefaultFamilies = []Family{
	{Name: "hearth_distributor_received_samples_total"},
	{Name: "hearth_distributor_received_histograms_total"},
	{Name: "hearth_distributor_received_exemplars_total"},
	{Name: "hearth_distributor_received_metadata_total"},
	{Name: "hearth_distributor_received_bytes_total"},
	{Name: "hearth_discarded_samples_total", Labels: []string{"reason"}},
	{Name: "hearth_discarded_metadata_total", Labels: []string{"reason"}},
	{Name: "hearth_querier_tenant_queries_total", Labels: []string{"api"}},
	{Name: "hearth_querier_tenant_samples_read_total"},
	{Name: "prometheus_rule_evaluations_total"},
	{Name: "prometheus_rule_evaluation_failures_total"},
	{Name: "hearth_ingester_tenant_flushed_bytes_total"},
}

// Table is what the ledger needs of the wide-column table; every
// widecolumn.Backend is one.
type Table interface {
	Apply(ctx context.Context, muts []widecolumn.RowMutation) error
	Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error
}

// Deps are the ledger's dependencies.
type Deps struct {
	Config Config
	Table  Table
	// Gatherer is the process's registry, where the components register
	// the counters of Families.
	Gatherer prometheus.Gatherer
	// Families are the counters kept; nil means [DefaultFamilies].
	Families   []Family
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Counter is one figure of a tenant's usage.
type Counter struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  uint64            `json:"value"`
}

// Ledger keeps the per-tenant billing counters of one process and
// persists them. Its methods are safe for concurrent use.
type Ledger struct {
	cfg      Config
	table    Table
	gatherer prometheus.Gatherer
	families map[string]Family
	logger   *slog.Logger
	svc      *services.Service

	persistFailures prometheus.Counter
	lastPersist     prometheus.Gauge

	regMu sync.Mutex
	vecs  map[string]*prometheus.CounterVec // registered counters of a family, by name

	// persistMu makes writes one at a time, and a tenant's deletion wait
	// for a write in progress.
	persistMu sync.Mutex

	mu     sync.Mutex
	loaded bool
	// last is each counter series' value at the previous read, by series
	// key (name and every label).
	last map[string]float64
	// totals are the tenant's absolute totals, by column; pending what
	// was added since the last successful write (non-empty: the tenant's
	// row must be written).
	totals  map[string]map[Column]uint64
	pending map[string]map[Column]uint64
	// written: the tenant's row was in the table at our last write.
	written map[string]bool
	// lastSync is when the counters were last read; readers read them
	// again only readSyncEvery later, so a tenant polling its usage costs
	// at most one registry gather a second.
	lastSync      time.Time
	readSyncEvery time.Duration
}

// New returns a ledger; its service loads the persisted totals.
func New(d Deps) (*Ledger, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	if d.Table == nil || d.Gatherer == nil {
		return nil, errors.New("usage: a table and a gatherer are required")
	}
	fams := d.Families
	if fams == nil {
		fams = DefaultFamilies
	}
	l := &Ledger{
		cfg:      d.Config,
		table:    d.Table,
		gatherer: d.Gatherer,
		families: make(map[string]Family, len(fams)),
		logger:   d.Logger,
		vecs:     map[string]*prometheus.CounterVec{},
		last:     map[string]float64{},
		totals:   map[string]map[Column]uint64{},
		pending:  map[string]map[Column]uint64{},
		written:  map[string]bool{},

		readSyncEvery: time.Second,
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range fams {
		l.families[f.Name] = f
	}
	f := promauto.With(d.Registerer)
	l.persistFailures = f.NewCounter(prometheus.CounterOpts{
		Name: "hearth_usage_persist_failures_total",
		Help: "Writes of the usage ledger to the store that failed; the totals are written again at the next -usage.persist-interval.",
	})
	l.lastPersist = f.NewGauge(prometheus.GaugeOpts{
		Name: "hearth_usage_last_persist_timestamp_seconds",
		Help: "When the usage ledger was last written to the store (or found nothing to write): a crash loses what was counted since.",
	})
	l.svc = services.New("usage", l.start, l.run, l.stop)
	return l, nil
}

// Service is the ledger's lifecycle: start loads this instance's rows, run
// writes every -usage.persist-interval, stop writes once more. A store
// that cannot be read at start does not stop the process (an ingester
// must start while the store is down): the ledger counts from zero, loads
// at a later interval (adding what it loads, so nothing counted
// meanwhile is lost) and writes nothing until it has loaded.
func (l *Ledger) Service() *services.Service { return l.svc }

// loadTimeout bounds the load at start, so a store that does not answer
// does not hold the process's start.
const loadTimeout = 10 * time.Second

func (l *Ledger) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	if err := l.load(ctx); err != nil {
		l.logger.Warn("Loading the usage ledger failed; counting from zero and loading again at the next interval", "err", err, "flag", "-usage.persist-interval")
	}
	return nil
}

func (l *Ledger) run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.PersistInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if !l.isLoaded() {
				if err := l.load(ctx); err != nil {
					l.logger.Warn("Loading the usage ledger failed; retrying at the next interval", "err", err)
					continue
				}
			}
			if err := l.Persist(ctx); err != nil && ctx.Err() == nil {
				l.logger.Warn("Writing the usage ledger failed; retrying at the next interval", "err", err)
			}
		}
	}
}

// stopTimeout bounds the last write at shutdown.
const stopTimeout = 10 * time.Second

func (l *Ledger) stop(error) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := l.Persist(ctx); err != nil {
		return fmt.Errorf("writing the usage ledger at shutdown: %w", err)
	}
	return nil
}

// load reads this instance's rows and continues the counters from them.
// Counters already counted meanwhile keep their counts: the loaded totals
// are added to them.
func (l *Ledger) load(ctx context.Context) error {
	if l.isLoaded() {
		return nil
	}
	rows := map[string]map[Column]uint64{}
	err := l.table.Read(ctx, widecolumn.ReadRequest{
		Ranges:      []widecolumn.KeyRange{widecolumn.Usage.Range()},
		RowKeyRegex: suffixRegex(l.cfg.InstanceID),
	}, func(r widecolumn.Row) bool {
		t, rest, err := widecolumn.Usage.ParseTenant(r.Key)
		if err != nil || string(rest) != l.cfg.InstanceID {
			return true // Another instance's row, or not one of ours.
		}
		rows[string(t)] = decodeCells(r.Cells)
		return true
	})
	if err != nil {
		return fmt.Errorf("loading the usage ledger of instance %q: %w", l.cfg.InstanceID, err)
	}
	l.regMu.Lock()
	vecs := maps.Clone(l.vecs)
	l.regMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	for t, cols := range rows {
		l.totals[t] = cols
		l.written[t] = true
		for col, v := range cols {
			name, lbls, err := col.Decode()
			if err != nil {
				continue
			}
			vec := vecs[name]
			if vec == nil {
				continue // Not one of this process's counters (rule evaluations): the ledger alone continues it.
			}
			lbls["tenant"] = t
			c, err := vec.GetMetricWith(lbls)
			if err != nil {
				continue // Its labels are not the ledger's: the ledger alone continues it.
			}
			c.Add(float64(v))
			l.last[seriesKeyOfMap(name, lbls)] += float64(v)
		}
	}
	l.loaded = true
	l.logger.Info("Usage ledger loaded", "instance", l.cfg.InstanceID, "tenants", len(rows))
	return nil
}

// syncLocked folds the counters' increase since the previous read into the
// totals. l.mu is held.
func (l *Ledger) syncLocked() {
	l.lastSync = time.Now()
	mfs, err := l.gatherer.Gather()
	// A failed gather may have left families out: their series are kept
	// as they were, not taken for reset.
	complete := err == nil
	seen := make(map[string]bool, len(l.last))
	var kept []string
	for _, mf := range mfs {
		fam, ok := l.families[mf.GetName()]
		if !ok || mf.GetType() != dto.MetricType_COUNTER {
			continue
		}
		for _, m := range mf.GetMetric() {
			t := ""
			kept = kept[:0]
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "tenant" {
					t = lp.GetValue()
				}
			}
			if t == "" {
				continue
			}
			for _, name := range fam.Labels {
				v := ""
				for _, lp := range m.GetLabel() {
					if lp.GetName() == name {
						v = lp.GetValue()
					}
				}
				kept = append(kept, name, v)
			}
			cur := m.GetCounter().GetValue()
			if math.IsNaN(cur) || math.IsInf(cur, 0) || cur < 0 {
				continue
			}
			key := seriesKey(mf.GetName(), m.GetLabel())
			seen[key] = true
			prev, had := l.last[key]
			l.last[key] = cur
			delta := cur - prev
			if had && cur < prev {
				delta = cur // A reset: the series was dropped and made again.
			}
			n := uint64(math.Round(delta))
			if n == 0 {
				continue
			}
			col := EncodeColumn(mf.GetName(), kept...)
			addTo(l.totals, t, col, n)
			addTo(l.pending, t, col, n)
		}
	}
	if complete {
		for key := range l.last {
			if !seen[key] {
				delete(l.last, key)
			}
		}
	}
}

func addTo(m map[string]map[Column]uint64, t string, col Column, n uint64) {
	if m[t] == nil {
		m[t] = map[Column]uint64{}
	}
	m[t][col] += n
}

// Persist writes the totals of every tenant counted since the last write.
// The service calls it every -usage.persist-interval and at stop.
func (l *Ledger) Persist(ctx context.Context) error {
	l.persistMu.Lock()
	defer l.persistMu.Unlock()
	l.mu.Lock()
	if !l.loaded {
		l.mu.Unlock()
		return nil // Writing before loading would overwrite the totals.
	}
	l.syncLocked()
	var tenants, check []string
	for t, p := range l.pending {
		if len(p) == 0 {
			continue
		}
		tenants = append(tenants, t)
		if l.written[t] {
			check = append(check, t)
		}
	}
	l.mu.Unlock()
	if len(tenants) == 0 {
		l.lastPersist.SetToCurrentTime()
		return nil
	}
	slices.Sort(tenants)
	if err := l.forgetDeleted(ctx, check); err != nil {
		l.persistFailures.Inc()
		return err
	}

	l.mu.Lock()
	muts := make([]widecolumn.RowMutation, 0, len(tenants))
	sent := make(map[string]map[Column]uint64, len(tenants))
	for _, t := range tenants {
		sent[t] = maps.Clone(l.pending[t])
		cells := make([]widecolumn.Cell, 0, len(l.totals[t]))
		for _, col := range slices.Sorted(maps.Keys(l.totals[t])) {
			cells = append(cells, widecolumn.Cell{Column: []byte(col), Value: encodeValue(l.totals[t][col])})
		}
		muts = append(muts, widecolumn.RowMutation{Key: l.rowKey(t), Cells: cells})
	}
	l.mu.Unlock()

	if err := l.table.Apply(ctx, muts); err != nil {
		l.persistFailures.Inc()
		return fmt.Errorf("writing the usage of %d tenants: %w", len(muts), err)
	}
	l.mu.Lock()
	for t, s := range sent {
		l.written[t] = true
		p := l.pending[t]
		for col, n := range s {
			if p[col] -= n; p[col] == 0 {
				delete(p, col)
			}
		}
		if len(p) == 0 {
			delete(l.pending, t)
		}
	}
	l.mu.Unlock()
	l.lastPersist.SetToCurrentTime()
	return nil
}

// forgetDeleted checks that the rows of tenants, written before, are still
// there. A missing row is a tenant deleted since (by another process):
// its totals start again from what was counted since the last write.
func (l *Ledger) forgetDeleted(ctx context.Context, tenants []string) error {
	if len(tenants) == 0 {
		return nil
	}
	keys := make([][]byte, len(tenants))
	for i, t := range tenants {
		keys[i] = l.rowKey(t)
	}
	present := map[string]bool{}
	err := l.table.Read(ctx, widecolumn.ReadRequest{Keys: keys, CellsPerRow: 1}, func(r widecolumn.Row) bool {
		if t, _, err := widecolumn.Usage.ParseTenant(r.Key); err == nil {
			present[string(t)] = true
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("reading the usage rows of %d tenants: %w", len(tenants), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range tenants {
		if !present[t] {
			l.logger.Info("Usage row gone (the tenant was deleted): counting it again from zero", "tenant", t)
			l.totals[t] = maps.Clone(l.pending[t])
			l.written[t] = false
		}
	}
	return nil
}

// DeleteTenant forgets the tenant's totals in this process, so no later
// write brings back the rows the tenant's deletion drops; what is counted
// afterwards starts from zero. It implements retention.LocalDeleter.
func (l *Ledger) DeleteTenant(_ context.Context, t tenant.ID) error {
	l.persistMu.Lock()
	defer l.persistMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Fold what was counted so far, so it is not counted after the
	// deletion.
	if l.loaded {
		l.syncLocked()
	}
	delete(l.totals, string(t))
	delete(l.pending, string(t))
	delete(l.written, string(t))
	return nil
}

func (l *Ledger) rowKey(t string) []byte {
	return append(widecolumn.Usage.AppendTenant(nil, t), l.cfg.InstanceID...)
}

// suffixRegex matches every key ending in s, each byte written as \xHH.
func suffixRegex(s string) string {
	b := make([]byte, 0, 6+4*len(s))
	b = append(b, "(?s).*"...)
	for i := range len(s) {
		b = fmt.Appendf(b, `\x%02x`, s[i])
	}
	return string(b)
}

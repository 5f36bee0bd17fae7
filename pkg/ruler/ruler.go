package ruler

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// RuleGroup is one stored rule group: the namespace it belongs to (the
// rule file, in Prometheus's terms) and its content.
type RuleGroup struct {
	Namespace string
	rulefmt.RuleGroup
}

// Store lists the stored rule groups. Safe for concurrent use.
type Store interface {
	// ListTenants returns every tenant with at least one rule group.
	ListTenants(ctx context.Context) ([]tenant.ID, error)
	// ListGroups returns a tenant's rule groups.
	ListGroups(ctx context.Context, t tenant.ID) ([]RuleGroup, error)
}

// Ring says which ruler owns a key: pkg/ring's Ring.Owner.
type Ring interface {
	Owner(key uint32) (ringpb.InstanceDesc, error)
}

// Limits returns a tenant's limits.
type Limits interface {
	For(t tenant.ID) *limits.Limits
}

// Deps is what a [Ruler] needs.
type Deps struct {
	Config Config
	Store  Store
	// Ring and InstanceID decide which groups this ruler evaluates: those
	// whose owner in Ring has InstanceID. A nil Ring owns every group (one
	// ruler alone, in tests).
	Ring       Ring
	InstanceID string
	// Queryable and Engine answer rule queries in process, and restore
	// the `for` state of alerts from ALERTS_FOR_STATE.
	Queryable storage.Queryable
	Engine    promql.QueryEngine
	// QueryFunc, when set, answers rule queries instead of Engine (the
	// query frontend, [FrontendQueryFunc]); it is given the tenant.
	QueryFunc func(t tenant.ID) QueryFunc
	Push      PushFunc
	Limits    Limits
	Logger    *slog.Logger
	// Registerer takes the ruler's metrics and, labelled by tenant, those
	// of the upstream rules managers and notifiers.
	Registerer prometheus.Registerer
}

// Ruler evaluates the rule groups it owns. Its methods are safe for
// concurrent use.
type Ruler struct {
	d       Deps
	logger  *slog.Logger
	svc     *services.Service
	regs    *tenantRegistries
	metrics *metrics
	notify  chan struct{}

	// syncMu serialises polls and ring checks.
	syncMu  sync.Mutex
	listing map[tenant.ID][]RuleGroup // the store's content at the last poll

	mu      sync.RWMutex
	tenants map[tenant.ID]*tenantRules
}

type metrics struct {
	syncs         *prometheus.CounterVec
	syncFailures  prometheus.Counter
	ownedGroups   prometheus.Gauge
	tenants       prometheus.Gauge
	updateFailure *prometheus.CounterVec
}

// New returns a ruler; it starts evaluating once its service runs.
func New(d Deps) (*Ruler, error) {
	if d.Store == nil || d.Push == nil || d.Queryable == nil || (d.Engine == nil && d.QueryFunc == nil) {
		return nil, errors.New("ruler: Store, Push, Queryable and Engine (or QueryFunc) are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registerer == nil {
		d.Registerer = prometheus.NewRegistry()
	}
	r := &Ruler{
		d:       d,
		logger:  d.Logger,
		regs:    newTenantRegistries(),
		notify:  make(chan struct{}, 1),
		tenants: map[tenant.ID]*tenantRules{},
	}
	f := promauto.With(d.Registerer)
	r.metrics = &metrics{
		syncs:         f.NewCounterVec(prometheus.CounterOpts{Name: "hearth_ruler_syncs_total", Help: "Reads of the rule store, by reason (poll, change, initial)."}, []string{"reason"}),
		syncFailures:  f.NewCounter(prometheus.CounterOpts{Name: "hearth_ruler_sync_failures_total", Help: "Reads of the rule store that failed; the ruler keeps the groups it had."}),
		ownedGroups:   f.NewGauge(prometheus.GaugeOpts{Name: "hearth_ruler_owned_rule_groups", Help: "Rule groups this ruler evaluates."}),
		tenants:       f.NewGauge(prometheus.GaugeOpts{Name: "hearth_ruler_tenants", Help: "Tenants with rule groups evaluated by this ruler (one rules manager each)."}),
		updateFailure: f.NewCounterVec(prometheus.CounterOpts{Name: "hearth_ruler_manager_update_failures_total", Help: "Rule group sets a tenant's rules manager refused to load (the previous set keeps running)."}, []string{"tenant"}),
	}
	d.Registerer.MustRegister(r.regs)
	r.svc = services.New("ruler", r.starting, r.running, r.stopping)
	return r, nil
}

// Service is the ruler's lifecycle. Start it after the ring, the querier
// and the distributor it uses.
func (r *Ruler) Service() *services.Service { return r.svc }

// Notify makes the ruler read the store now (a change made through this
// process's API). It never blocks.
func (r *Ruler) Notify(tenant.ID) {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *Ruler) starting(ctx context.Context) error {
	r.sync(ctx, "initial")
	return nil
}

func (r *Ruler) running(ctx context.Context) error {
	poll := time.NewTicker(r.d.Config.PollInterval)
	defer poll.Stop()
	ringCheck := time.NewTicker(r.d.Config.RingCheckPeriod)
	defer ringCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
			r.sync(ctx, "poll")
		case <-r.notify:
			r.sync(ctx, "change")
		case <-ringCheck.C:
			r.syncMu.Lock()
			r.apply()
			r.syncMu.Unlock()
		}
	}
}

func (r *Ruler) stopping(error) error {
	r.mu.Lock()
	tenants := r.tenants
	r.tenants = map[tenant.ID]*tenantRules{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for t, tr := range tenants {
		wg.Go(func() {
			tr.stop()
			r.regs.remove(t)
		})
	}
	wg.Wait()
	return nil
}

// sync reads the store and applies what this ruler owns.
func (r *Ruler) sync(ctx context.Context, reason string) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	r.metrics.syncs.WithLabelValues(reason).Inc()
	listing, err := r.list(ctx)
	if err != nil {
		r.metrics.syncFailures.Inc()
		r.logger.Warn("Reading the rule store failed; keeping the current rule groups", "err", err)
		return
	}
	r.listing = listing
	r.apply()
}

func (r *Ruler) list(ctx context.Context) (map[tenant.ID][]RuleGroup, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tenants, err := r.d.Store.ListTenants(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing tenants with rules: %w", err)
	}
	out := make(map[tenant.ID][]RuleGroup, len(tenants))
	for _, t := range tenants {
		groups, err := r.d.Store.ListGroups(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("listing rule groups of tenant %s: %w", t, err)
		}
		out[t] = groups
	}
	return out, nil
}

// GroupKey is the ring key of a rule group.
func GroupKey(t tenant.ID, namespace, group string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(t))
	h.Write([]byte{0})
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write([]byte(group))
	return h.Sum32()
}

// owns reports whether this ruler evaluates the group.
func (r *Ruler) owns(t tenant.ID, g *RuleGroup) bool {
	if r.d.Ring == nil {
		return true
	}
	in, err := r.d.Ring.Owner(GroupKey(t, g.Namespace, g.Name))
	return err == nil && in.Id == r.d.InstanceID
}

// apply brings every tenant's rules manager to the groups this ruler owns
// in the last listing. Call with syncMu held.
func (r *Ruler) apply() {
	owned := 0
	want := map[tenant.ID][]RuleGroup{}
	for t, groups := range r.listing {
		for i := range groups {
			if r.owns(t, &groups[i]) {
				want[t] = append(want[t], groups[i])
			}
		}
		owned += len(want[t])
	}
	r.metrics.ownedGroups.Set(float64(owned))

	r.mu.RLock()
	current := maps.Clone(r.tenants)
	r.mu.RUnlock()
	now := time.Now()
	for t, tr := range current {
		if _, ok := want[t]; ok {
			continue
		}
		if !tr.empty {
			// Update with nothing stops the groups; the manager writes
			// their stale markers two intervals later, so it keeps
			// running, empty, until then.
			if err := tr.update(nil, r.d.Config.EvaluationInterval); err != nil {
				r.logger.Warn("Removing the tenant's rule groups failed", "tenant", t, "err", err)
			}
			tr.empty, tr.fingerprint = true, [32]byte{}
			tr.staleUntil = now.Add(2*tr.maxInterval + r.d.Config.RingCheckPeriod + time.Second)
			continue
		}
		if now.After(tr.staleUntil) {
			tr.stop()
			r.regs.remove(t)
			r.mu.Lock()
			delete(r.tenants, t)
			r.mu.Unlock()
		}
	}
	for _, t := range slices.Sorted(maps.Keys(want)) {
		groups := want[t]
		settings, err := r.settings(t)
		if err != nil {
			r.metrics.updateFailure.WithLabelValues(string(t)).Inc()
			r.logger.Warn("Invalid ruler settings of tenant", "tenant", t, "err", err)
			continue
		}
		fp := fingerprint(groups, settings)
		tr := current[t]
		if tr != nil && tr.fingerprint == fp {
			continue
		}
		if tr == nil {
			tr = r.newTenantRules(t, settings)
			r.mu.Lock()
			r.tenants[t] = tr
			r.mu.Unlock()
		} else if !tr.settings.equal(settings) {
			if err := tr.setNotifier(settings); err != nil {
				r.metrics.updateFailure.WithLabelValues(string(t)).Inc()
				r.logger.Warn("Configuring the tenant's Alertmanagers failed", "tenant", t, "err", err)
				continue
			}
		}
		if err := tr.update(groups, r.d.Config.EvaluationInterval); err != nil {
			r.metrics.updateFailure.WithLabelValues(string(t)).Inc()
			r.logger.Warn("Loading the tenant's rule groups failed; the previous ones keep running", "tenant", t, "err", err)
			continue
		}
		tr.fingerprint, tr.empty = fp, false
	}
	r.mu.RLock()
	r.metrics.tenants.Set(float64(len(r.tenants)))
	r.mu.RUnlock()
}

// maxInterval is the longest evaluation interval of groups; def is the
// interval of a group without one.
func maxInterval(groups []RuleGroup, def time.Duration) time.Duration {
	var m time.Duration
	for _, g := range groups {
		iv := time.Duration(g.Interval)
		if iv == 0 {
			iv = def
		}
		m = max(m, iv)
	}
	return m
}

// tenantSettings are what a tenant's limits and the flags make of its
// manager and notifier.
type tenantSettings struct {
	alertmanagers  []AlertmanagerURL
	amRaw          string
	externalLabels map[string]string
	externalURL    string
}

func (s tenantSettings) equal(o tenantSettings) bool {
	return s.amRaw == o.amRaw && s.externalURL == o.externalURL && maps.Equal(s.externalLabels, o.externalLabels)
}

func (r *Ruler) settings(t tenant.ID) (tenantSettings, error) {
	s := tenantSettings{amRaw: r.d.Config.AlertmanagerURL, externalURL: r.d.Config.External.URL}
	if r.d.Limits != nil {
		l := r.d.Limits.For(t)
		if l.RulerAlertmanagerURL != "" {
			s.amRaw = l.RulerAlertmanagerURL
		}
		s.externalLabels = l.RulerExternalLabels
	}
	ams, err := ParseAlertmanagerURLs(s.amRaw)
	if err != nil {
		return s, fmt.Errorf("ruler_alertmanager_url: %w", err)
	}
	s.alertmanagers = ams
	if s.externalURL == "" {
		s.externalURL = "/prometheus"
	}
	if _, err := url.Parse(s.externalURL); err != nil {
		return s, fmt.Errorf("external URL: %w", err)
	}
	return s, nil
}

// fingerprint identifies a tenant's owned groups and settings, to skip an
// update that would change nothing.
func fingerprint(groups []RuleGroup, s tenantSettings) [32]byte {
	h := sha256.New()
	for _, g := range groups {
		h.Write([]byte(g.Namespace))
		h.Write([]byte{0})
		b, _ := yaml.Marshal(&g.RuleGroup) // a RuleGroup always marshals
		h.Write(b)
		h.Write([]byte{0})
	}
	fmt.Fprintf(h, "%s\x00%s\x00%v", s.amRaw, s.externalURL, s.externalLabels)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// tenantRulesFor returns the tenant's manager, or nil.
func (r *Ruler) tenantRulesFor(t tenant.ID) *tenantRules {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tenants[t]
}

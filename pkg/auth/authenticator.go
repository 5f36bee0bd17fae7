package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"golang.org/x/sync/singleflight"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const (
	// maxNegative bounds the cached "no such key" entries; past it they
	// are all dropped (the failure limiter throttles whoever sprays ids).
	maxNegative = 10_000
	// idleEvict is how long an unused record stays cached and refreshed.
	idleEvict = 10 * time.Minute
	// refreshBatch is the most ids read in one refresh request.
	refreshBatch = 1000
	// loadTimeout bounds one store read of the cache.
	loadTimeout = 10 * time.Second
	// knownRefresh is how often the ids of every key in the store are read
	// (one scan of the key rows), so that a lookup can tell a key that
	// exists from a made-up one without reading the store.
	knownRefresh = time.Minute
)

// errLookupLimited is returned by lookup for an id neither cached nor known
// to exist when its source may not cause another store read now.
var errLookupLimited = errors.New("too many lookups of unknown API keys")

// ErrStoreUnavailable is returned when a key record could not be read and
// no fresh enough copy is cached. The middleware answers 503.
var ErrStoreUnavailable = errors.New("API key store unavailable")

// Deps are an Authenticator's dependencies.
type Deps struct {
	Config Config
	// Keys is the key store; required with -auth.mode=api-keys.
	Keys *Keys
	// OperatorToken is the credential Operator requires. When empty,
	// Operator refuses every request.
	OperatorToken Secret
	// Federation lets read requests name several tenants
	// (-tenant-federation.enabled).
	Federation bool
	// Cluster, when set, lets read-scope routes take a cluster member's
	// signed request (ClusterHTTPHeader) instead of an API key: the
	// ruler's queries to the query frontend.
	Cluster    *Cluster
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Authenticator binds requests to tenants and checks operator requests.
// It is safe for concurrent use. Run its Service to keep cached key records
// fresh; without it, records are re-read on use once two TTLs old.
type Authenticator struct {
	mode       string
	ttl        time.Duration
	noneTenant tenant.ID
	federation bool
	cluster    *Cluster
	keys       *Keys
	operator   Secret
	logger     *slog.Logger
	// limiter counts failures per (source, claimed tenant or key id);
	// opLimiter failures of the operator credential per source; lookups
	// store reads of ids not known to exist, per source.
	limiter   *failureLimiter
	opLimiter *failureLimiter
	lookups   *failureLimiter

	mu        sync.RWMutex
	cache     map[string]*entry
	negatives int
	// gen counts invalidations: a read that started before one does not
	// cache what it read.
	gen   atomic.Uint64
	group singleflight.Group
	// known holds the id of every key in the store, from the last scan
	// (knownRefresh) and every key found since. A store read for a known id
	// is bounded by the number of keys; one for an unknown id is charged
	// to lookups.
	known atomic.Pointer[map[string]struct{}]
	kmu   sync.Mutex // serialises writers of known

	failures   *prometheus.CounterVec
	storeReads *prometheus.CounterVec
}

// entry is one cached lookup. key nil means "no such key".
type entry struct {
	key    *Key
	loaded time.Time
	used   atomic.Int64 // Unix seconds of the last use
}

// New returns an Authenticator.
func New(deps Deps) (*Authenticator, error) {
	if err := deps.Config.Validate(); err != nil {
		return nil, err
	}
	if deps.Config.Mode == ModeAPIKeys && deps.Keys == nil {
		return nil, errors.New("auth: -auth.mode=api-keys needs a key store")
	}
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a := &Authenticator{
		mode:       deps.Config.Mode,
		ttl:        deps.Config.CacheTTL,
		noneTenant: tenant.ID(deps.Config.NoneTenant),
		federation: deps.Federation,
		cluster:    deps.Cluster,
		keys:       deps.Keys,
		operator:   deps.OperatorToken,
		logger:     logger,
		limiter:    newFailureLimiter(deps.Config.FailureRateLimit, deps.Config.FailureBurst),
		opLimiter:  newFailureLimiter(deps.Config.FailureRateLimit, deps.Config.FailureBurst),
		lookups:    newFailureLimiter(deps.Config.FailureRateLimit, deps.Config.FailureBurst),
		cache:      map[string]*entry{},
	}
	f := promauto.With(reg)
	a.failures = f.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_auth_failures_total",
		Help: "Requests refused by authentication, by reason.",
	}, []string{"reason"})
	a.storeReads = f.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_auth_store_reads_total",
		Help: "Reads of API-key records from the store: on a cache miss, or refreshing the cache.",
	}, []string{"reason"})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_auth_cached_keys",
		Help: "API-key lookups cached, found and not found.",
	}, func() float64 {
		a.mu.RLock()
		defer a.mu.RUnlock()
		return float64(len(a.cache))
	})
	return a, nil
}

// Mode returns the -auth.mode in force.
func (a *Authenticator) Mode() string { return a.mode }

// Service refreshes the cached key records every -auth.cache-ttl, and the
// set of existing key ids every minute.
func (a *Authenticator) Service() *services.Service {
	return services.New("auth", nil, func(ctx context.Context) error {
		if a.keys == nil {
			<-ctx.Done()
			return nil
		}
		a.scanKnown(ctx)
		t := time.NewTicker(a.ttl)
		defer t.Stop()
		k := time.NewTicker(knownRefresh)
		defer k.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-k.C:
				a.scanKnown(ctx)
			case <-t.C:
				if err := a.refresh(ctx); err != nil && ctx.Err() == nil {
					a.logger.Warn("Refreshing cached API keys failed; keys not refreshed for twice -auth.cache-ttl are read on use", "err", err)
				}
			}
		}
	}, nil)
}

// Invalidate drops id from the cache, so this process sees a change to the
// key at once. Other processes see it at their next refresh.
func (a *Authenticator) Invalidate(ids ...string) {
	a.gen.Add(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		if e, ok := a.cache[id]; ok {
			if e.key == nil {
				a.negatives--
			}
			delete(a.cache, id)
		}
	}
}

// scanKnown replaces the set of known key ids with the store's.
func (a *Authenticator) scanKnown(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, loadTimeout)
	defer cancel()
	a.storeReads.WithLabelValues("scan").Inc()
	ids, err := a.keys.IDs(sctx)
	if err != nil {
		if ctx.Err() == nil {
			a.logger.Warn("Listing API key ids failed; lookups of keys not cached are limited per source until the next scan", "err", err)
		}
		return
	}
	m := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		m[id] = struct{}{}
	}
	a.kmu.Lock()
	a.known.Store(&m)
	a.kmu.Unlock()
}

// isKnown reports whether key id was in the store at the last scan or has
// been found since.
func (a *Authenticator) isKnown(id string) bool {
	m := a.known.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[id]
	return ok
}

// addKnown records that key id exists (copy on write: keys are created
// rarely, looked up on every request).
func (a *Authenticator) addKnown(id string) {
	if a.isKnown(id) {
		return
	}
	a.kmu.Lock()
	defer a.kmu.Unlock()
	old := a.known.Load()
	m := map[string]struct{}{id: {}}
	if old != nil {
		m = make(map[string]struct{}, len(*old)+1)
		for k := range *old {
			m[k] = struct{}{}
		}
		m[id] = struct{}{}
	}
	a.known.Store(&m)
}

// lookup returns the record of key id, nil when there is none. An id that
// is neither cached nor known to exist is read from the store only when
// mayRead (which charges the caller's source) allows it; otherwise lookup
// returns errLookupLimited. That bounds the store reads a flood of made-up
// keys can cause.
func (a *Authenticator) lookup(ctx context.Context, id string, mayRead func() bool) (*Key, error) {
	now := time.Now()
	a.mu.RLock()
	e := a.cache[id]
	a.mu.RUnlock()
	if e != nil && a.fresh(e, now) {
		if s := now.Unix(); e.used.Load() != s {
			e.used.Store(s)
		}
		return e.key, nil
	}
	if !a.isKnown(id) && !mayRead() {
		return nil, errLookupLimited
	}
	v, err, _ := a.group.Do(id, func() (any, error) {
		// The first caller's cancellation must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		gen := a.gen.Load()
		loaded := time.Now()
		a.storeReads.WithLabelValues("miss").Inc()
		got, err := a.keys.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		k := got[id]
		if k != nil {
			a.addKnown(id)
		}
		if a.gen.Load() == gen {
			a.put(id, k, loaded)
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	return v.(*Key), nil
}

// fresh reports whether e may be used at now: a found record for two TTLs
// (the refresh renews it every TTL), a miss for one.
func (a *Authenticator) fresh(e *entry, now time.Time) bool {
	age := now.Sub(e.loaded)
	if e.key == nil {
		return age < a.ttl
	}
	return age < 2*a.ttl
}

func (a *Authenticator) put(id string, k *Key, loaded time.Time) {
	e := &entry{key: k, loaded: loaded}
	e.used.Store(loaded.Unix())
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.cache[id]; ok && old.key == nil {
		a.negatives--
	}
	if k == nil {
		if a.negatives >= maxNegative {
			for id, e := range a.cache {
				if e.key == nil {
					delete(a.cache, id)
				}
			}
			a.negatives = 0
		}
		a.negatives++
	}
	a.cache[id] = e
}

// refresh re-reads every cached record in batches, drops misses older than
// a TTL and records unused for idleEvict.
func (a *Authenticator) refresh(ctx context.Context) error {
	now := time.Now()
	var ids []string
	a.mu.Lock()
	for id, e := range a.cache {
		idle := now.Sub(time.Unix(e.used.Load(), 0)) > idleEvict
		if idle || (e.key == nil && !a.fresh(e, now)) {
			if e.key == nil {
				a.negatives--
			}
			delete(a.cache, id)
			continue
		}
		if e.key != nil {
			ids = append(ids, id)
		}
	}
	a.mu.Unlock()
	var errs []error
	for len(ids) > 0 {
		batch := ids[:min(len(ids), refreshBatch)]
		ids = ids[len(batch):]
		gen := a.gen.Load()
		loaded := time.Now()
		rctx, cancel := context.WithTimeout(ctx, loadTimeout)
		a.storeReads.WithLabelValues("refresh").Inc()
		got, err := a.keys.Get(rctx, batch...)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.gen.Load() != gen {
			continue // an invalidation raced with the read: the next refresh or a miss will read again.
		}
		a.mu.Lock()
		for _, id := range batch {
			old, ok := a.cache[id]
			if !ok {
				continue
			}
			e := &entry{key: got[id], loaded: loaded}
			e.used.Store(old.used.Load())
			if old.key == nil {
				a.negatives--
			}
			if e.key == nil {
				a.negatives++
			}
			a.cache[id] = e
		}
		a.mu.Unlock()
	}
	return errors.Join(errs...)
}

package ratelimit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// The strategies.
const (
	StrategyLocal  = "local"
	StrategyGlobal = "global"
)

// Config is the rate limiter's configuration; the limits themselves are per
// tenant, in pkg/limits.
type Config struct {
	Strategy string `yaml:"ingestion_rate_limit_strategy"`
}

// RegisterFlags registers -distributor.ingestion-rate-limit-strategy.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Strategy, "distributor.ingestion-rate-limit-strategy", StrategyLocal, "How -distributor.ingestion-rate-limit applies: local (each distributor enforces it) or global (each enforces it divided by the healthy distributors of the distributor ring; the burst stays per distributor).")
}

// Validate reports an unknown strategy.
func (c *Config) Validate() error {
	if c.Strategy != StrategyLocal && c.Strategy != StrategyGlobal {
		return fmt.Errorf("distributor.ingestion-rate-limit-strategy is %q, want %s or %s", c.Strategy, StrategyLocal, StrategyGlobal)
	}
	return nil
}

// Distributors counts the healthy distributors. *ring.Ring of the
// distributor ring implements it. Must be safe for concurrent use and cheap:
// it is called on every push.
type Distributors interface {
	HealthyInstancesCount() int
}

// Reason is the reason label of hearth_discarded_samples_total for
// rate-limited pushes.
const Reason = "rate_limited"

// RateLimitedError is a push refused by the tenant's ingestion rate limit.
// It matches remotewrite.ErrRateLimited (429).
type RateLimitedError struct {
	Tenant tenant.ID
	// Limit is the tenant's rate this distributor enforces, in samples
	// per second (divided among distributors with the global strategy);
	// Burst is its burst.
	Limit float64
	Burst int
	// Samples is what the push would have cost.
	Samples int
	// Wait is how long until the bucket holds Samples tokens; 0 when it
	// never will (Samples > Burst).
	Wait time.Duration
}

func (e *RateLimitedError) Error() string {
	if e.Samples > e.Burst {
		return fmt.Sprintf("ingestion rate limit (%g samples/s, burst %d) exceeded for tenant %s: a push of %d samples is larger than the burst and can never be accepted; send smaller pushes or raise ingestion_burst_size (err-hearth-rate-limited)",
			e.Limit, e.Burst, e.Tenant, e.Samples)
	}
	return fmt.Sprintf("ingestion rate limit (%g samples/s, burst %d) exceeded for tenant %s: push of %d samples; retry after %s (err-hearth-rate-limited)",
		e.Limit, e.Burst, e.Tenant, e.Samples, e.RetryAfter())
}

// Is makes the error match remotewrite.ErrRateLimited.
func (e *RateLimitedError) Is(target error) bool { return target == remotewrite.ErrRateLimited }

// Reason is the reason label of the discarded samples.
func (e *RateLimitedError) Reason() string { return Reason }

// RetryAfter is when a retry may pass (remotewrite rounds it up to whole
// seconds); for a push larger than the burst, the time to fill the burst.
func (e *RateLimitedError) RetryAfter() time.Duration {
	if e.Samples > e.Burst && e.Limit > 0 {
		return time.Duration(float64(e.Burst) / e.Limit * float64(time.Second))
	}
	return e.Wait
}

// Deps are the limiter's dependencies.
type Deps struct {
	Config Config
	Limits *limits.Overrides
	// Distributors is required with the global strategy.
	Distributors Distributors
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter is the per-tenant ingestion rate limit, a pre-push hook of the
// distributor. Safe for concurrent use.
type Limiter struct {
	cfg          Config
	limits       *limits.Overrides
	distributors Distributors
	now          func() time.Time

	mu      sync.Mutex
	buckets map[tenant.ID]*rate.Limiter
}

// New returns a limiter.
func New(d Deps) (*Limiter, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	if d.Limits == nil {
		return nil, errors.New("ratelimit: Limits is required")
	}
	if d.Config.Strategy == StrategyGlobal && d.Distributors == nil {
		return nil, errors.New("ratelimit: the global strategy needs the distributor ring (Distributors)")
	}
	l := &Limiter{cfg: d.Config, limits: d.Limits, distributors: d.Distributors, now: d.Now, buckets: map[tenant.ID]*rate.Limiter{}}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Limit returns the rate and burst this distributor enforces for t now.
func (l *Limiter) Limit(t tenant.ID) (float64, int) {
	lim := l.limits.For(t)
	r := lim.IngestionRate
	if l.cfg.Strategy == StrategyGlobal {
		if n := l.distributors.HealthyInstancesCount(); n > 1 {
			r /= float64(n)
		}
	}
	return r, lim.IngestionBurstSize
}

// BeforePush takes the push's samples from the tenant's bucket, or refuses
// the push with a [RateLimitedError] when the bucket does not hold them.
// It implements the distributor's PrePushHook.
func (l *Limiter) BeforePush(_ context.Context, t tenant.ID, req *ingesterpb.PushRequest) error {
	n := 0
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		n += len(ts.Samples) + len(ts.Histograms) + len(ts.Exemplars)
	}
	if n == 0 {
		return nil // metadata only
	}
	return l.AllowN(t, n)
}

// AllowN takes n tokens from t's bucket, or says how long to wait.
func (l *Limiter) AllowN(t tenant.ID, n int) error {
	r, burst := l.Limit(t)
	now := l.now()
	limit := rate.Limit(r)
	if math.IsInf(r, 1) {
		limit = rate.Inf
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[t]
	if !ok {
		b = rate.NewLimiter(limit, burst)
		l.buckets[t] = b
	}
	// Overrides and the number of distributors change at run time.
	if b.Limit() != limit {
		b.SetLimitAt(now, limit)
	}
	if b.Burst() != burst {
		b.SetBurstAt(now, burst)
	}
	res := b.ReserveN(now, n)
	if !res.OK() {
		return &RateLimitedError{Tenant: t, Limit: r, Burst: burst, Samples: n}
	}
	if wait := res.DelayFrom(now); wait > 0 {
		res.CancelAt(now)
		return &RateLimitedError{Tenant: t, Limit: r, Burst: burst, Samples: n, Wait: wait}
	}
	return nil
}

// Forget drops t's bucket, e.g. when the tenant has been idle; its next
// push starts with a full burst.
func (l *Limiter) Forget(t tenant.ID) {
	l.mu.Lock()
	delete(l.buckets, t)
	l.mu.Unlock()
}

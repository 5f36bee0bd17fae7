package checker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Checker writes known samples and reads them back. Create it with [New];
// [Checker.Start] begins writing (and checking during the run),
// [Checker.Stop] ends the writing, [Checker.Verify] reads everything back.
// Progress may be called at any time from any goroutine.
type Checker struct {
	cfg    Config
	runID  string
	logger *slog.Logger
	client *http.Client
	api    v1.API
	enc    *encoder

	ledger ledger
	counts counters

	wrongMu    sync.Mutex
	mismatches map[sampleKey]struct{}
	phantoms   map[sampleKey]struct{}

	started time.Time
	stopped time.Time
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// counters are the run's counts, updated as it goes.
type counters struct {
	pushes, pushesAcknowledged, pushesRetried, pushesFailed, pushesUnacknowledged atomic.Uint64
	retries, responses5xx, responses429, transportErrors                          atomic.Uint64
	periodicChecks, periodicIncomplete, queryFailures                             atomic.Uint64
}

// Counts are the push and query counts of a run so far.
type Counts struct {
	// Pushes is the number of push requests (one per tick, however often
	// it was retried).
	Pushes             uint64 `json:"pushes"`
	PushesAcknowledged uint64 `json:"pushes_acknowledged"`
	// PushesRetried counts pushes that got a 5xx, a 429 or no answer at
	// least once and were retried.
	PushesRetried uint64 `json:"pushes_retried"`
	// PushesFailed counts pushes refused with a 4xx other than 429.
	PushesFailed uint64 `json:"pushes_failed"`
	// PushesUnacknowledged counts pushes still being retried when the run
	// ended.
	PushesUnacknowledged uint64 `json:"pushes_unacknowledged"`
	// Retries counts the attempts after the first of every push.
	Retries         uint64 `json:"retries"`
	Responses5xx    uint64 `json:"responses_5xx"`
	Responses429    uint64 `json:"responses_429"`
	TransportErrors uint64 `json:"transport_errors"`
	// PeriodicChecks counts the read-backs during the run that got an
	// answer; PeriodicIncomplete those that missed an acknowledged sample.
	PeriodicChecks     uint64 `json:"periodic_checks"`
	PeriodicIncomplete uint64 `json:"periodic_incomplete"`
	// QueryFailures counts failed read-back queries, during the run and
	// at the end.
	QueryFailures uint64 `json:"query_failures"`
}

// New checks cfg and returns a checker; nothing is sent before Start.
func New(cfg Config, logger *slog.Logger) (*Checker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("checker config: %w", err)
	}
	runID := cfg.RunID
	if runID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		runID = hex.EncodeToString(b[:])
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	c := &Checker{
		cfg:        cfg,
		runID:      runID,
		logger:     logger.With("run_id", runID),
		client:     &http.Client{Transport: t},
		enc:        newEncoder(runID, cfg.Series),
		mismatches: map[sampleKey]struct{}{},
		phantoms:   map[sampleKey]struct{}{},
	}
	ac, err := api.NewClient(api.Config{Address: cfg.queryURL(), RoundTripper: authTransport{c: c, next: t}})
	if err != nil {
		return nil, fmt.Errorf("creating the query client for %q: %w", cfg.queryURL(), err)
	}
	c.api = v1.NewAPI(ac)
	return c, nil
}

// RunID returns the run_id label of the run's series.
func (c *Checker) RunID() string { return c.runID }

// Start begins pushing every Interval and, with a CheckInterval, reading
// back during the run, until Stop is called or ctx ends. Call it once.
func (c *Checker) Start(ctx context.Context) {
	ctx, c.cancel = context.WithCancel(ctx)
	c.started = time.Now()
	c.logger.Info("Checker started", "url", c.cfg.URL, "query_url", c.cfg.queryURL(), "tenant", c.cfg.Tenant, "series", c.cfg.Series, "interval", c.cfg.Interval)
	c.wg.Go(func() { c.writeLoop(ctx) })
	if c.cfg.CheckInterval > 0 {
		c.wg.Go(func() { c.periodicLoop(ctx) })
	}
}

// Stop ends the writing and the checks during the run and waits for them:
// a push being retried is given up (unacknowledged), a request in flight
// is answered first.
func (c *Checker) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.wg.Wait()
	if c.stopped.IsZero() {
		c.stopped = time.Now()
	}
}

// Progress returns the counts so far.
func (c *Checker) Progress() Counts {
	return Counts{
		Pushes:               c.counts.pushes.Load(),
		PushesAcknowledged:   c.counts.pushesAcknowledged.Load(),
		PushesRetried:        c.counts.pushesRetried.Load(),
		PushesFailed:         c.counts.pushesFailed.Load(),
		PushesUnacknowledged: c.counts.pushesUnacknowledged.Load(),
		Retries:              c.counts.retries.Load(),
		Responses5xx:         c.counts.responses5xx.Load(),
		Responses429:         c.counts.responses429.Load(),
		TransportErrors:      c.counts.transportErrors.Load(),
		PeriodicChecks:       c.counts.periodicChecks.Load(),
		PeriodicIncomplete:   c.counts.periodicIncomplete.Load(),
		QueryFailures:        c.counts.queryFailures.Load(),
	}
}

// errNothingPushed is returned by Verify before any push.
var errNothingPushed = errors.New("nothing was pushed")

// Verify reads every sample of the run back and returns the summary. It
// repeats the read-back (for up to FinalTimeout, or until ctx ends) while
// queries fail or acknowledged samples are missing. Call it after Stop; it
// may be called again later (after a restart, say) for a fresh read.
func (c *Checker) Verify(ctx context.Context) (*Summary, error) {
	defer c.client.CloseIdleConnections()
	pushes := c.ledger.snapshot()
	if len(pushes) == 0 {
		return nil, errNothingPushed
	}
	if c.cfg.FinalTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.FinalTimeout)
		defer cancel()
	}
	expected := func(p pushRecord) bool { return p.acked }
	var (
		best     *tally
		attempts int
		lastErr  error
	)
	for {
		attempts++
		t := newTally(pushes, c.cfg.Series, expected)
		err := c.readRange(ctx, pushes[0].ts, pushes[len(pushes)-1].ts, t.add)
		if err == nil {
			best = t
			if n, _ := t.missing(); n == 0 {
				break
			}
		} else {
			lastErr = err
			c.logger.Warn("Final read-back failed", "attempt", attempts, "err", err)
		}
		if !sleep(ctx, time.Second) {
			break
		}
	}
	if best == nil {
		return nil, fmt.Errorf("reading the run back (%d attempts): %w", attempts, lastErr)
	}
	c.recordWrong(best)
	return c.summary(best, attempts), nil
}

// Run is the whole cycle of the command: push (and check) for Duration or
// until ctx ends, then verify everything.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) (*Summary, error) {
	c, err := New(cfg, logger)
	if err != nil {
		return nil, err
	}
	c.Start(ctx)
	if cfg.Duration > 0 {
		sleep(ctx, cfg.Duration)
	} else {
		<-ctx.Done()
	}
	c.Stop()
	logger.Info("Writing stopped, reading everything back", "run_id", c.runID)
	// The final read-back outlives an interrupted run: it is the point.
	return c.Verify(context.WithoutCancel(ctx))
}

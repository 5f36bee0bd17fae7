package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
)

const (
	// queueDepth is how many encoded requests each pusher's encoder may
	// keep ready ahead of the pusher.
	queueDepth = 16
)

// roundClock gives every round its timestamp. With -interval pacing, round
// r is at base + r×interval. With -max-rate, rounds start -backfill
// in the past and advance by -interval until they reach the wall clock;
// from there they follow it (at least 1ms apart), so that no timestamp is
// ever in the future. The first encoder to reach a round fixes its
// timestamp for all.
type roundClock struct {
	base, step int64 // ms
	maxRate    bool
	now        func() int64

	mu    sync.Mutex
	ticks []int64
}

func (c *roundClock) tick(round int) int64 {
	if !c.maxRate {
		return c.base + int64(round)*c.step
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.ticks) <= round {
		next := c.base
		if n := len(c.ticks); n > 0 {
			prev := c.ticks[n-1]
			next = prev + c.step
			if now := c.now(); next > now {
				next = max(prev+1, now)
			}
		}
		c.ticks = append(c.ticks, next)
	}
	return c.ticks[round]
}

// runner is the state of one run.
type runner struct {
	cfg     *Config
	logger  *slog.Logger
	shape   *shape
	batches int // per round
	st      *stats
	pusher  *pusher
	start   time.Time
	clock   *roundClock
	sched   time.Time // interval mode: when round 0 is due
	sent    atomic.Int64
	cancel  context.CancelFunc
}

// Run generates load as cfg says until cfg.Duration has passed,
// cfg.Requests requests were sent, cfg.Rounds rounds were sent, or ctx ends, printing a live line every
// cfg.LiveEvery to live, and returns the summary. Requests in flight at the
// end are allowed to finish (within cfg.Timeout).
func Run(ctx context.Context, cfg Config, logger *slog.Logger, live io.Writer) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("validating config: %w", err)
	}
	batches := plan(&cfg)
	seriesPerTenant := 0
	for _, b := range batches {
		seriesPerTenant += b.series
	}
	seriesPerTenant /= cfg.Tenants

	cpu0 := processCPU()
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	r := &runner{
		cfg: &cfg, logger: logger, shape: newShape(cfg.LabelCount, cfg.SeriesPerMetric),
		batches: len(batches), st: newStats(), start: time.Now(), cancel: cancel,
	}
	r.pusher = &pusher{cfg: &cfg, client: newHTTPClient(cfg.Concurrency), st: r.st, logger: logger}
	// Paced rounds start at the next interval boundary: every sample is
	// sent at or after its timestamp.
	base := r.start.Truncate(cfg.Interval)
	if base.Before(r.start) {
		base = base.Add(cfg.Interval)
	}
	if cfg.MaxRate {
		base = r.start.Add(-cfg.Backfill).Truncate(cfg.Interval)
	}
	r.sched = base
	r.clock = &roundClock{
		base: base.UnixMilli(), step: cfg.Interval.Milliseconds(),
		maxRate: cfg.MaxRate, now: func() int64 { return time.Now().UnixMilli() },
	}
	r.st.lastTick.Store(r.clock.base)
	logger.Info("Starting load", "url", cfg.URL, "protocol", cfg.Protocol, "tenants", cfg.Tenants,
		"series_per_tenant", seriesPerTenant, "requests_per_round", len(batches), "max_rate", cfg.MaxRate,
		"interval", cfg.Interval, "concurrency", cfg.Concurrency, "duration", cfg.Duration)

	var wg sync.WaitGroup
	for p := range cfg.Concurrency {
		var own []*batch
		var index []int
		for i := p; i < len(batches); i += cfg.Concurrency {
			own, index = append(own, batches[i]), append(index, i)
		}
		if len(own) == 0 {
			continue
		}
		ch := make(chan *request, queueDepth)
		wg.Go(func() { r.encodeLoop(ctx, own, index, ch) })
		wg.Go(func() { r.pushLoop(ctx, ch) })
	}
	if cfg.QueryRate > 0 {
		q, err := newQuerier(&cfg, r.st, func() time.Time { return time.UnixMilli(r.st.lastTick.Load()) })
		if err != nil {
			return nil, err
		}
		wg.Go(func() { q.run(ctx) })
	}
	liveDone := make(chan struct{})
	if cfg.LiveEvery > 0 && live != nil {
		go r.liveLoop(ctx, live, liveDone)
	} else {
		close(liveDone)
	}
	wg.Wait()
	cancel()
	<-liveDone
	r.pusher.client.CloseIdleConnections()
	return r.st.summary(&cfg, time.Since(r.start), processCPU()-cpu0, seriesPerTenant), nil
}

// encodeLoop encodes the batches own, round after round, into ch until ctx
// ends.
func (r *runner) encodeLoop(ctx context.Context, own []*batch, index []int, ch chan<- *request) {
	defer close(ch)
	enc := newEncoder(r.cfg.Protocol)
	var l seriesLabels
	var h histogram.Histogram
	for round := 0; r.cfg.Rounds == 0 || round < r.cfg.Rounds; round++ {
		tick := r.clock.tick(round)
		for k, b := range own {
			t0 := time.Now()
			body, n := encodeBatch(b, enc, r.shape, &l, &h, r.cfg, round, tick)
			r.st.encodeNanos.Add(int64(time.Since(t0)))
			r.st.encodedSamples.Add(uint64(n))
			select {
			case ch <- &request{tenant: b.tenant, body: body, samples: n, round: round, index: index[k], tick: tick}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// pushLoop sends the requests of ch: at their place in the interval, or at
// once with -max-rate. It counts the time it waits for the encoder.
func (r *runner) pushLoop(ctx context.Context, ch <-chan *request) {
	for {
		waitStart := time.Now()
		var req *request
		select {
		case req = <-ch:
		case <-ctx.Done():
			return
		}
		if req == nil {
			return
		}
		got := time.Now()
		if r.cfg.MaxRate {
			r.st.starvedNanos.Add(int64(got.Sub(waitStart)))
		} else {
			offset := time.Duration(req.round)*r.cfg.Interval + time.Duration(req.index)*r.cfg.Interval/time.Duration(r.batches)
			sendAt := r.sched.Add(offset)
			if got.After(sendAt) {
				r.st.starvedNanos.Add(int64(got.Sub(maxTime(waitStart, sendAt))))
			} else if !sleepUntil(ctx, sendAt) {
				return
			}
			if time.Since(sendAt) > r.cfg.Interval {
				r.st.late.Add(1)
			}
		}
		if r.cfg.Requests > 0 && r.sent.Add(1) > int64(r.cfg.Requests) {
			r.cancel()
			return
		}
		r.pusher.push(ctx, req)
	}
}

func (r *runner) liveLoop(ctx context.Context, w io.Writer, done chan<- struct{}) {
	defer close(done)
	rep := &liveReporter{st: r.st, start: r.start, prevAt: r.start, concurrency: r.cfg.Concurrency}
	t := time.NewTicker(r.cfg.LiveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fmt.Fprintln(w, rep.line(now))
		}
	}
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// WriteJSON writes s as indented JSON to path.
func (s *Summary) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding summary: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing summary: %w", err)
	}
	return nil
}

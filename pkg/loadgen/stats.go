package loadgen

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencies keeps every observed duration (exact quantiles; 8 bytes per
// request) plus the ones since the last live line.
type latencies struct {
	mu     sync.Mutex
	all    []time.Duration
	window []time.Duration
}

func (l *latencies) record(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.window = append(l.window, d)
	l.mu.Unlock()
}

// takeWindow returns the durations since the previous call.
func (l *latencies) takeWindow() []time.Duration {
	l.mu.Lock()
	w := l.window
	l.window = nil
	l.mu.Unlock()
	return w
}

func (l *latencies) summary() LatencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return summarize(l.all)
}

// LatencySummary is the distribution of a set of request latencies, in
// milliseconds.
type LatencySummary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize sorts a copy of ds and reads its exact quantiles.
func summarize(ds []time.Duration) LatencySummary {
	if len(ds) == 0 {
		return LatencySummary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	return LatencySummary{Count: len(s), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// counterMap counts events by a key (an HTTP status, an error kind).
type counterMap struct {
	mu sync.Mutex
	m  map[string]uint64
}

func (c *counterMap) inc(key string) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]uint64{}
	}
	c.m[key]++
	c.mu.Unlock()
}

func (c *counterMap) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.m)
}

// stats are the counters of a run, shared by every goroutine.
type stats struct {
	samplesAccepted atomic.Uint64
	samplesDropped  atomic.Uint64 // 4xx, or 5xx/429 after the last retry
	requests        atomic.Uint64 // requests finished (accepted or dropped)
	retries         atomic.Uint64
	late            atomic.Uint64 // interval mode: requests sent more than an interval after their schedule
	status          counterMap    // push attempts by HTTP status ("error" when there was no response)
	pushLatency     latencies     // every attempt

	encodedSamples atomic.Uint64
	encodeNanos    atomic.Int64 // time the encoders spent encoding
	starvedNanos   atomic.Int64 // time the pushers waited for an encoder
	lastTick       atomic.Int64 // newest timestamp sent (ms)

	queryMu      sync.Mutex
	queryLatency map[string]*latencies // by query class
	queryErrors  counterMap            // by "<class> <error type>"
}

func newStats() *stats { return &stats{queryLatency: map[string]*latencies{}} }

func (s *stats) queryLatencies(class string) *latencies {
	s.queryMu.Lock()
	defer s.queryMu.Unlock()
	l, ok := s.queryLatency[class]
	if !ok {
		l = &latencies{}
		s.queryLatency[class] = l
	}
	return l
}

// Summary is the result of a run; [Run] returns it and `-summary-json`
// writes it.
type Summary struct {
	Mode            string  `json:"mode"` // "interval" or "max-rate"
	Protocol        string  `json:"protocol"`
	URL             string  `json:"url"`
	Tenants         int     `json:"tenants"`
	SeriesPerTenant int     `json:"series_per_tenant"`
	Concurrency     int     `json:"concurrency"`
	BatchSize       int     `json:"batch_size"`
	DurationSeconds float64 `json:"duration_seconds"`

	SamplesAccepted  uint64            `json:"samples_accepted"`
	SamplesDropped   uint64            `json:"samples_dropped"`
	SamplesPerSecond float64           `json:"samples_per_second"`
	Requests         uint64            `json:"requests"`
	Retries          uint64            `json:"retries"`
	LateRequests     uint64            `json:"late_requests"`
	Status           map[string]uint64 `json:"status"`
	PushLatency      LatencySummary    `json:"push_latency"`

	// EncodeNanosPerSample is the encoders' CPU-bound cost per sample;
	// GeneratorWaitFraction the share of the pushers' time spent waiting
	// for an encoder. Above 5% the generator, not the target, is the
	// bottleneck (GeneratorBound).
	EncodeNanosPerSample  float64 `json:"encode_ns_per_sample"`
	GeneratorWaitFraction float64 `json:"generator_wait_fraction"`
	GeneratorBound        bool    `json:"generator_bound"`
	// GeneratorCPUSeconds is the CPU time of the whole loadgen process
	// during the run: on a shared machine, the share it took from the
	// target.
	GeneratorCPUSeconds float64 `json:"generator_cpu_seconds"`

	Queries     map[string]LatencySummary `json:"queries,omitempty"`
	QueryErrors map[string]uint64         `json:"query_errors,omitempty"`
}

// generatorBoundFraction is the share of pusher time waiting on encoders
// above which the generator says it is the bottleneck.
const generatorBoundFraction = 0.05

func (s *stats) summary(cfg *Config, elapsed, cpu time.Duration, seriesPerTenant int) *Summary {
	mode := "interval"
	if cfg.MaxRate {
		mode = "max-rate"
	}
	sum := &Summary{
		Mode: mode, Protocol: string(cfg.Protocol), URL: cfg.URL, Tenants: cfg.Tenants,
		SeriesPerTenant: seriesPerTenant, Concurrency: cfg.Concurrency, BatchSize: cfg.BatchSize,
		DurationSeconds:     elapsed.Seconds(),
		SamplesAccepted:     s.samplesAccepted.Load(),
		SamplesDropped:      s.samplesDropped.Load(),
		Requests:            s.requests.Load(),
		Retries:             s.retries.Load(),
		LateRequests:        s.late.Load(),
		Status:              s.status.snapshot(),
		PushLatency:         s.pushLatency.summary(),
		QueryErrors:         s.queryErrors.snapshot(),
		GeneratorCPUSeconds: cpu.Seconds(),
	}
	if elapsed > 0 {
		sum.SamplesPerSecond = float64(sum.SamplesAccepted) / elapsed.Seconds()
		sum.GeneratorWaitFraction = float64(s.starvedNanos.Load()) / float64(elapsed.Nanoseconds()*int64(cfg.Concurrency))
	}
	sum.GeneratorBound = sum.GeneratorWaitFraction > generatorBoundFraction
	if n := s.encodedSamples.Load(); n > 0 {
		sum.EncodeNanosPerSample = float64(s.encodeNanos.Load()) / float64(n)
	}
	s.queryMu.Lock()
	if len(s.queryLatency) > 0 {
		sum.Queries = map[string]LatencySummary{}
		for class, l := range s.queryLatency {
			sum.Queries[class] = l.summary()
		}
	}
	s.queryMu.Unlock()
	return sum
}

// WriteText writes the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "mode=%s protocol=%s url=%s tenants=%d series/tenant=%d concurrency=%d batch=%d duration=%.1fs\n",
		s.Mode, s.Protocol, s.URL, s.Tenants, s.SeriesPerTenant, s.Concurrency, s.BatchSize, s.DurationSeconds)
	fmt.Fprintf(&b, "push: %s samples/s accepted (%d accepted, %d dropped), %d requests, %d retries, %d late, status %s\n",
		human(s.SamplesPerSecond), s.SamplesAccepted, s.SamplesDropped, s.Requests, s.Retries, s.LateRequests, formatCounts(s.Status))
	fmt.Fprintf(&b, "push latency: p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms (%d attempts)\n",
		s.PushLatency.P50, s.PushLatency.P90, s.PushLatency.P99, s.PushLatency.Max, s.PushLatency.Count)
	fmt.Fprintf(&b, "generator: %.0f ns/sample encoding, pushers waited on encoders %.1f%% of the time, %.1f CPU-seconds used\n",
		s.EncodeNanosPerSample, 100*s.GeneratorWaitFraction, s.GeneratorCPUSeconds)
	if s.GeneratorBound {
		b.WriteString("WARNING: the generator was the bottleneck (pushers waited for encoded requests); the figures understate the target\n")
	}
	for _, class := range slices.Sorted(maps.Keys(s.Queries)) {
		q := s.Queries[class]
		fmt.Fprintf(&b, "query %-16s n=%-5d p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms\n", class, q.Count, q.P50, q.P90, q.P99, q.Max)
	}
	if len(s.QueryErrors) > 0 {
		fmt.Fprintf(&b, "query errors: %s\n", formatCounts(s.QueryErrors))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatCounts(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+strconv.FormatUint(m[k], 10))
	}
	return strings.Join(parts, " ")
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// liveReporter prints one line per period with the rates since the
// previous line.
type liveReporter struct {
	st           *stats
	start        time.Time
	prevAt       time.Time
	prevAccepted uint64
	prevStarved  int64
	prevStatus   map[string]uint64
	concurrency  int
}

func (r *liveReporter) line(now time.Time) string {
	accepted := r.st.samplesAccepted.Load()
	starved := r.st.starvedNanos.Load()
	status := r.st.status.snapshot()
	dt := now.Sub(r.prevAt).Seconds()
	delta := map[string]uint64{}
	for k, v := range status {
		if d := v - r.prevStatus[k]; d > 0 {
			delta[k] = d
		}
	}
	push := summarize(r.st.pushLatency.takeWindow())
	var b strings.Builder
	fmt.Fprintf(&b, "[%4.0fs] %s samples/s accepted (total %d), status %s, retries %d, push p50=%.1fms p99=%.1fms",
		now.Sub(r.start).Seconds(), human(float64(accepted-r.prevAccepted)/dt), accepted, formatCounts(delta),
		r.st.retries.Load(), push.P50, push.P99)
	var queries []time.Duration
	r.st.queryMu.Lock()
	for _, l := range r.st.queryLatency {
		queries = append(queries, l.takeWindow()...)
	}
	r.st.queryMu.Unlock()
	if len(queries) > 0 {
		q := summarize(queries)
		fmt.Fprintf(&b, " | queries %.1f/s p50=%.1fms p99=%.1fms", float64(q.Count)/dt, q.P50, q.P99)
	}
	if wait := float64(starved-r.prevStarved) / (dt * 1e9 * float64(r.concurrency)); wait > generatorBoundFraction {
		fmt.Fprintf(&b, " | GENERATOR-BOUND: pushers waited %.0f%% for encoders", 100*wait)
	}
	r.prevAt, r.prevAccepted, r.prevStarved, r.prevStatus = now, accepted, starved, status
	return b.String()
}

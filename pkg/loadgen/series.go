package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// kind is the type of a generated series.
type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindNative
	kindClassic
)

// Metric name prefixes: a series' name is <prefix>_<series_id/series-per-metric>
// plus a suffix (_total for counters; _bucket, _sum, _count for classic histograms).
const (
	counterPrefix = "loadgen_counter_"
	gaugePrefix   = "loadgen_gauge_"
	nativePrefix  = "loadgen_native_histogram_"
	classicPrefix = "loadgen_histogram_"
)

// classicBounds are the upper bounds of the classic histograms' buckets
// (client_golang's DefBuckets); +Inf is added.
var classicBounds = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// classicSeries is the number of series of one classic histogram: a bucket
// per bound, +Inf, _sum and _count.
var classicSeries = len(classicBounds) + 3

// cardinalityLevels is the number of cardinality_1eK labels (K = 1 … 6).
const cardinalityLevels = 6

// labelRole says where a template label takes its value from.
type labelRole uint8

const (
	roleName labelRole = iota
	roleCardinality
	roleCycle
	roleConst
	roleLE
	roleSeriesID
)

type templateLabel struct {
	name  string
	role  labelRole
	arg   int    // K of cardinality_1eK
	value string // roleConst
}

// shape is the label template shared by every series of a run.
type shape struct {
	perMetric int
	plain     []templateLabel // sorted by name
	bucket    []templateLabel // plain plus le, sorted by name
	pow10     [cardinalityLevels + 1]int
	leValues  []string
}

func newShape(labelCount, perMetric int) *shape {
	s := &shape{perMetric: perMetric}
	s.plain = append(s.plain,
		templateLabel{name: "__name__", role: roleName},
		templateLabel{name: "cycle_id", role: roleCycle},
		templateLabel{name: "series_id", role: roleSeriesID},
	)
	for k := 1; k <= cardinalityLevels; k++ {
		s.plain = append(s.plain, templateLabel{name: fmt.Sprintf("cardinality_1e%d", k), role: roleCardinality, arg: k})
	}
	for i := range labelCount {
		s.plain = append(s.plain, templateLabel{name: fmt.Sprintf("label_%02d", i), role: roleConst, value: fmt.Sprintf("value_%02d", i)})
	}
	byName := func(a, b templateLabel) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(s.plain, byName)
	s.bucket = append(slices.Clone(s.plain), templateLabel{name: "le", role: roleLE})
	slices.SortFunc(s.bucket, byName)
	s.pow10[0] = 1
	for k := 1; k <= cardinalityLevels; k++ {
		s.pow10[k] = s.pow10[k-1] * 10
	}
	for _, b := range classicBounds {
		s.leValues = append(s.leValues, strconv.FormatFloat(b, 'f', -1, 64))
	}
	s.leValues = append(s.leValues, "+Inf")
	return s
}

// seriesLabels is one series' label set, built in place for the encoders:
// names point into the template, values into buf.
type seriesLabels struct {
	names []string
	ends  []int
	buf   []byte
}

func (l *seriesLabels) len() int { return len(l.names) }

func (l *seriesLabels) name(i int) string { return l.names[i] }

func (l *seriesLabels) value(i int) []byte {
	start := 0
	if i > 0 {
		start = l.ends[i-1]
	}
	return l.buf[start:l.ends[i]]
}

// build fills l with the labels of the series at slot with the given cycle;
// suffix is appended to the metric name, le (index into leValues, or -1)
// selects a classic bucket.
func (s *shape) build(l *seriesLabels, prefix string, slot int, cycle uint32, suffix string, le int) {
	l.names, l.ends, l.buf = l.names[:0], l.ends[:0], l.buf[:0]
	tmpl := s.plain
	if le >= 0 {
		tmpl = s.bucket
	}
	for _, t := range tmpl {
		switch t.role {
		case roleName:
			l.buf = append(l.buf, prefix...)
			l.buf = strconv.AppendInt(l.buf, int64(slot/s.perMetric), 10)
			l.buf = append(l.buf, suffix...)
		case roleCardinality:
			l.buf = strconv.AppendInt(l.buf, int64(slot/s.pow10[t.arg]), 10)
		case roleCycle:
			l.buf = strconv.AppendUint(l.buf, uint64(cycle), 10)
		case roleConst:
			l.buf = append(l.buf, t.value...)
		case roleLE:
			l.buf = append(l.buf, s.leValues[le]...)
		case roleSeriesID:
			l.buf = strconv.AppendInt(l.buf, int64(slot), 10)
		}
		l.names = append(l.names, t.name)
		l.ends = append(l.ends, len(l.buf))
	}
}

// Native histogram parameters: exponential schema 3 (bucket growth 2^(1/8)),
// the same as Prometheus' default for client_golang native histograms.
const (
	nativeSchema        = 3
	nativeZeroThreshold = 1e-9
)

// observer holds the state of one histogram series (native or classic):
// observations are log-normal around a per-series median, like request
// latencies.
type observer struct {
	mu, sigma float64 // log-normal parameters
	perRound  int     // mean observations per interval
	count     uint64
	zero      uint64
	sum       float64
	lo        int     // native: bucket index of counts[0]
	counts    []int64 // native: absolute count per exponential bucket from lo; classic: per bound, +Inf last (not cumulative)
}

func newObserver(rng *rand.Rand, classic bool) observer {
	o := observer{
		mu:       math.Log(0.02 + 0.3*rng.Float64()),
		sigma:    0.3 + 0.9*rng.Float64(),
		perRound: 1 + rng.IntN(50),
	}
	if classic {
		o.counts = make([]int64, len(classicBounds)+1)
	}
	return o
}

// observeRound adds one interval's observations.
func (o *observer) observeRound(rng *rand.Rand, classic bool) {
	n := rng.IntN(2*o.perRound + 1)
	for range n {
		v := math.Exp(o.mu + o.sigma*rng.NormFloat64())
		o.count++
		o.sum += v
		if classic {
			i, _ := slices.BinarySearch(classicBounds, v)
			o.counts[i]++
			continue
		}
		if v <= nativeZeroThreshold {
			o.zero++
			continue
		}
		o.addNative(int(math.Ceil(math.Log2(v) * (1 << nativeSchema))))
	}
}

func (o *observer) addNative(idx int) {
	switch {
	case len(o.counts) == 0:
		o.lo = idx
		o.counts = append(o.counts, 0)
	case idx < o.lo:
		grow := o.lo - idx
		o.counts = append(make([]int64, grow, grow+len(o.counts)), o.counts...)
		o.lo = idx
	case idx >= o.lo+len(o.counts):
		o.counts = append(o.counts, make([]int64, idx-o.lo-len(o.counts)+1)...)
	}
	o.counts[idx-o.lo]++
}

// floatState is the state of the counters or gauges of one tenant.
type floatState struct {
	values []float64
	steps  []float64 // counter: mean increase per interval; gauge: random-walk step
	cycles []uint32
}

// histState is the state of the native or classic histograms of one tenant.
type histState struct {
	obs    []observer
	cycles []uint32
}

// batch is the unit of a request: a slot range of one kind of one tenant.
// Batches never share slots, so different goroutines may advance and encode
// different batches concurrently; one batch is used by one goroutine.
type batch struct {
	tenant string
	kind   kind
	lo, hi int // slots [lo, hi)
	total  int // slots of this kind in the tenant (for the churn window)
	floats *floatState
	hists  *histState
	rng    *rand.Rand
	series int // series per round
}

// plan cuts the series of every tenant into batches of about batchSize
// series.
func plan(cfg *Config) []*batch {
	var batches []*batch
	gauges := int(math.Round(float64(cfg.Series) * cfg.GaugeFraction))
	counts := [...]int{cfg.Series - gauges, gauges, cfg.NativeHistograms, cfg.ClassicHistograms}
	for ti, tenant := range cfg.tenantNames() {
		for k, n := range counts {
			if n == 0 {
				continue
			}
			seriesPerSlot := 1
			if kind(k) == kindClassic {
				seriesPerSlot = classicSeries
			}
			per := max(1, cfg.BatchSize/seriesPerSlot)
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(ti)<<8|uint64(k)))
			var fs *floatState
			var hs *histState
			if kind(k) <= kindGauge {
				fs = newFloatState(rng, kind(k), n, cfg.Interval.Seconds())
			} else {
				hs = newHistState(rng, kind(k) == kindClassic, n)
			}
			for lo := 0; lo < n; lo += per {
				hi := min(n, lo+per)
				batches = append(batches, &batch{
					tenant: tenant, kind: kind(k), lo: lo, hi: hi, total: n,
					floats: fs, hists: hs,
					rng:    rand.New(rand.NewPCG(cfg.Seed, uint64(ti)<<40|uint64(k)<<32|uint64(lo))),
					series: (hi - lo) * seriesPerSlot,
				})
			}
		}
	}
	return batches
}

func newFloatState(rng *rand.Rand, k kind, n int, intervalSeconds float64) *floatState {
	fs := &floatState{values: make([]float64, n), steps: make([]float64, n), cycles: make([]uint32, n)}
	for i := range n {
		fs.initSlot(rng, k, i, intervalSeconds)
	}
	return fs
}

// initSlot gives a new series its starting value: counters a per-second
// rate between 0.01 and 100 (log-uniform), gauges a level and a step.
func (fs *floatState) initSlot(rng *rand.Rand, k kind, i int, intervalSeconds float64) {
	if k == kindCounter {
		fs.values[i] = float64(rng.IntN(1000))
		fs.steps[i] = math.Pow(10, -2+4*rng.Float64()) * intervalSeconds
		return
	}
	level := math.Pow(10, 1+5*rng.Float64())
	fs.values[i] = math.Round(level)
	fs.steps[i] = level / 100
}

func newHistState(rng *rand.Rand, classic bool, n int) *histState {
	hs := &histState{obs: make([]observer, n), cycles: make([]uint32, n)}
	for i := range n {
		hs.obs[i] = newObserver(rng, classic)
	}
	return hs
}

// churned reports whether slot is replaced at round: every round after the
// first replaces the next churn-percent of the slots, cycling through them.
func churned(round, slot, total int, percent float64) bool {
	if round == 0 || percent == 0 {
		return false
	}
	n := int(float64(total) * percent / 100)
	if n == 0 {
		return false
	}
	start := ((round - 1) * n) % total
	off := slot - start
	if off < 0 {
		off += total
	}
	return off < n
}

// advance moves the batch's series to round: new values, and churned series
// replaced by new ones (new cycle_id, fresh state).
func (b *batch) advance(round int, cfg *Config) {
	interval := cfg.Interval.Seconds()
	for slot := b.lo; slot < b.hi; slot++ {
		fresh := round == 0
		if churned(round, slot, b.total, cfg.Churn) {
			fresh = true
			if b.floats != nil {
				b.floats.cycles[slot]++
				b.floats.initSlot(b.rng, b.kind, slot, interval)
			} else {
				b.hists.cycles[slot]++
				b.hists.obs[slot] = newObserver(b.rng, b.kind == kindClassic)
			}
		}
		switch b.kind {
		case kindCounter:
			if !fresh {
				// Poisson-like: the mean increase ±50%, rounded (it may be 0).
				b.floats.values[slot] += math.Round(b.floats.steps[slot] * (0.5 + b.rng.Float64()))
			}
		case kindGauge:
			if !fresh {
				v := b.floats.values[slot] + b.floats.steps[slot]*b.rng.NormFloat64()
				b.floats.values[slot] = math.Round(math.Max(0, v)*100) / 100
			}
		default:
			b.hists.obs[slot].observeRound(b.rng, b.kind == kindClassic)
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

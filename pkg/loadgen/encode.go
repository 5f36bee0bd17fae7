package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"google.golang.org/protobuf/encoding/protowire"
)

// encoder turns the series of one batch into one compressed request body.
// Encoders write the protobuf wire format directly (no intermediate
// message per series) and reuse their buffers; an encoder is used by one
// goroutine.
type encoder interface {
	reset()
	addFloat(l *seriesLabels, k kind, v float64, ts int64)
	addHistogram(l *seriesLabels, h *histogram.Histogram, ts int64)
	// finish returns the snappy-compressed body in a new slice owned by
	// the caller.
	finish() []byte
}

func newEncoder(p Protocol) encoder {
	if p == ProtocolRW2 {
		return newRW2Encoder()
	}
	return &rw1Encoder{}
}

// rw1Encoder writes a prometheus.WriteRequest (remote-write 1.0).
type rw1Encoder struct {
	req, ts, out []byte
}

var _ encoder = (*rw1Encoder)(nil)

func (e *rw1Encoder) reset() { e.req = e.req[:0] }

func (e *rw1Encoder) labels(l *seriesLabels) {
	e.ts = e.ts[:0]
	for i := range l.len() {
		name, value := l.name(i), l.value(i)
		size := 2 + protowire.SizeBytes(len(name)) + protowire.SizeBytes(len(value))
		e.ts = protowire.AppendTag(e.ts, 1, protowire.BytesType) // TimeSeries.labels
		e.ts = protowire.AppendVarint(e.ts, uint64(size))
		e.ts = protowire.AppendTag(e.ts, 1, protowire.BytesType) // Label.name
		e.ts = protowire.AppendString(e.ts, name)
		e.ts = protowire.AppendTag(e.ts, 2, protowire.BytesType) // Label.value
		e.ts = protowire.AppendBytes(e.ts, value)
	}
}

func (e *rw1Encoder) addFloat(l *seriesLabels, _ kind, v float64, ts int64) {
	e.labels(l)
	e.ts = appendSample(e.ts, 2, v, ts) // TimeSeries.samples
	e.appendSeries()
}

func (e *rw1Encoder) addHistogram(l *seriesLabels, h *histogram.Histogram, ts int64) {
	e.labels(l)
	ph := prompb.FromIntHistogram(ts, h)
	e.ts = appendMessage(e.ts, 4, &ph) // TimeSeries.histograms
	e.appendSeries()
}

func (e *rw1Encoder) appendSeries() {
	e.req = protowire.AppendTag(e.req, 1, protowire.BytesType) // WriteRequest.timeseries
	e.req = protowire.AppendBytes(e.req, e.ts)
}

func (e *rw1Encoder) finish() []byte { return compress(&e.out, e.req) }

// compress snappy-compresses src into *scratch and returns an exact-size
// copy, so that queued requests hold only their compressed bytes.
func compress(scratch *[]byte, src []byte) []byte {
	*scratch = snappy.Encode((*scratch)[:cap(*scratch)], src)
	return slices.Clone(*scratch)
}

// rw2Encoder writes an io.prometheus.write.v2.Request (remote-write 2.0)
// with its own symbol table per request.
type rw2Encoder struct {
	series, ts, refs []byte
	symbols          []string
	refOf            map[string]uint32
	raw, out         []byte
}

var _ encoder = (*rw2Encoder)(nil)

func newRW2Encoder() *rw2Encoder {
	e := &rw2Encoder{refOf: map[string]uint32{}}
	e.reset()
	return e
}

func (e *rw2Encoder) reset() {
	e.series = e.series[:0]
	clear(e.refOf)
	e.symbols = append(e.symbols[:0], "") // the spec requires "" first
	e.refOf[""] = 0
}

func (e *rw2Encoder) ref(b []byte) uint32 {
	if r, ok := e.refOf[string(b)]; ok {
		return r
	}
	s := string(b)
	r := uint32(len(e.symbols))
	e.symbols = append(e.symbols, s)
	e.refOf[s] = r
	return r
}

func (e *rw2Encoder) refString(s string) uint32 {
	if r, ok := e.refOf[s]; ok {
		return r
	}
	r := uint32(len(e.symbols))
	e.symbols = append(e.symbols, s)
	e.refOf[s] = r
	return r
}

func (e *rw2Encoder) labels(l *seriesLabels) {
	e.refs = e.refs[:0]
	for i := range l.len() {
		e.refs = protowire.AppendVarint(e.refs, uint64(e.refString(l.name(i))))
		e.refs = protowire.AppendVarint(e.refs, uint64(e.ref(l.value(i))))
	}
	e.ts = protowire.AppendTag(e.ts[:0], 1, protowire.BytesType) // TimeSeries.labels_refs (packed)
	e.ts = protowire.AppendBytes(e.ts, e.refs)
}

var rw2Types = [...]writev2.Metadata_MetricType{
	kindCounter: writev2.Metadata_METRIC_TYPE_COUNTER,
	kindGauge:   writev2.Metadata_METRIC_TYPE_GAUGE,
	kindNative:  writev2.Metadata_METRIC_TYPE_HISTOGRAM,
	kindClassic: writev2.Metadata_METRIC_TYPE_HISTOGRAM,
}

func (e *rw2Encoder) metadata(k kind) {
	e.ts = protowire.AppendTag(e.ts, 5, protowire.BytesType) // TimeSeries.metadata
	e.ts = protowire.AppendVarint(e.ts, uint64(1+protowire.SizeVarint(uint64(rw2Types[k]))))
	e.ts = protowire.AppendTag(e.ts, 1, protowire.VarintType) // Metadata.type
	e.ts = protowire.AppendVarint(e.ts, uint64(rw2Types[k]))
}

func (e *rw2Encoder) addFloat(l *seriesLabels, k kind, v float64, ts int64) {
	e.labels(l)
	e.ts = appendSample(e.ts, 2, v, ts) // TimeSeries.samples
	e.metadata(k)
	e.appendSeries()
}

func (e *rw2Encoder) addHistogram(l *seriesLabels, h *histogram.Histogram, ts int64) {
	e.labels(l)
	wh := writev2.FromIntHistogram(0, ts, h)
	e.ts = appendMessage(e.ts, 3, &wh) // TimeSeries.histograms
	e.metadata(kindNative)
	e.appendSeries()
}

func (e *rw2Encoder) appendSeries() {
	e.series = protowire.AppendTag(e.series, 5, protowire.BytesType) // Request.timeseries
	e.series = protowire.AppendBytes(e.series, e.ts)
}

func (e *rw2Encoder) finish() []byte {
	e.raw = e.raw[:0]
	for _, s := range e.symbols {
		e.raw = protowire.AppendTag(e.raw, 4, protowire.BytesType) // Request.symbols
		e.raw = protowire.AppendString(e.raw, s)
	}
	e.raw = append(e.raw, e.series...)
	return compress(&e.out, e.raw)
}

// appendSample appends a Sample{value=1, timestamp=2} (the same in both
// protocols) as field num.
func appendSample(b []byte, num protowire.Number, v float64, ts int64) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(1+8+1+protowire.SizeVarint(uint64(ts))))
	b = protowire.AppendTag(b, 1, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(v))
	b = protowire.AppendTag(b, 2, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(ts))
}

// sizedMarshaler is what the gogo-generated messages provide.
type sizedMarshaler interface {
	Size() int
	MarshalToSizedBuffer([]byte) (int, error)
}

// appendMessage appends m as field num.
func appendMessage(b []byte, num protowire.Number, m sizedMarshaler) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	n := m.Size()
	b = protowire.AppendVarint(b, uint64(n))
	start := len(b)
	b = slices.Grow(b, n)[:start+n]
	// A message sized by Size always fits its buffer: the error is nil.
	_, _ = m.MarshalToSizedBuffer(b[start:])
	return b
}

// encodeBatch advances b to round and encodes its series with the
// timestamp tick (milliseconds, plus jitter). It returns the body and the
// number of samples (float and histogram) in it.
func encodeBatch(b *batch, enc encoder, s *shape, l *seriesLabels, h *histogram.Histogram, cfg *Config, round int, tick int64) ([]byte, int) {
	b.advance(round, cfg)
	enc.reset()
	jitter := cfg.Jitter.Milliseconds()
	samples := 0
	for slot := b.lo; slot < b.hi; slot++ {
		ts := tick
		if jitter > 0 {
			ts += jitterOffset(b.rng, jitter)
		}
		switch b.kind {
		case kindCounter:
			s.build(l, counterPrefix, slot, b.floats.cycles[slot], "_total", -1)
			enc.addFloat(l, kindCounter, b.floats.values[slot], ts)
			samples++
		case kindGauge:
			s.build(l, gaugePrefix, slot, b.floats.cycles[slot], "", -1)
			enc.addFloat(l, kindGauge, b.floats.values[slot], ts)
			samples++
		case kindNative:
			s.build(l, nativePrefix, slot, b.hists.cycles[slot], "", -1)
			b.hists.obs[slot].native(h)
			enc.addHistogram(l, h, ts)
			samples++
		case kindClassic:
			o, cycle := &b.hists.obs[slot], b.hists.cycles[slot]
			var cum int64
			for i, c := range o.counts {
				cum += c
				s.build(l, classicPrefix, slot, cycle, "_bucket", i)
				enc.addFloat(l, kindClassic, float64(cum), ts)
			}
			s.build(l, classicPrefix, slot, cycle, "_sum", -1)
			enc.addFloat(l, kindClassic, o.sum, ts)
			s.build(l, classicPrefix, slot, cycle, "_count", -1)
			enc.addFloat(l, kindClassic, float64(o.count), ts)
			samples += classicSeries
		}
	}
	return enc.finish(), samples
}

func jitterOffset(rng *rand.Rand, jitter int64) int64 {
	return rng.Int64N(2*jitter+1) - jitter
}

// native fills h (reusing its slices) with o as an integer native histogram.
func (o *observer) native(h *histogram.Histogram) {
	*h = histogram.Histogram{
		Schema:          nativeSchema,
		ZeroThreshold:   nativeZeroThreshold,
		ZeroCount:       o.zero,
		Count:           o.count,
		Sum:             o.sum,
		PositiveSpans:   h.PositiveSpans[:0],
		PositiveBuckets: h.PositiveBuckets[:0],
	}
	if len(o.counts) == 0 {
		return
	}
	h.PositiveSpans = append(h.PositiveSpans, histogram.Span{Offset: int32(o.lo), Length: uint32(len(o.counts))})
	var prev int64
	for _, c := range o.counts {
		h.PositiveBuckets = append(h.PositiveBuckets, c-prev)
		prev = c
	}
}

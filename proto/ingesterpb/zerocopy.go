package ingesterpb

// A hand-written decoder for PushRequest (remote-write 1.0's
// prometheus.WriteRequest plus our source field), independent of the
// gogo-generated code: it aliases strings into the input instead of copying
// them and reuses the destination's slices, so a pooled request decodes
// without allocating per label or per sample. It is built on proto/wire,
// like every hand-written decoder of ours.

import (
	"errors"
	"fmt"

	"github.com/hearthmetrics/hearth/proto/wire"
)

// Sentinel errors wrapped by [DecodeError]: those of package wire.
var (
	ErrTruncated      = wire.ErrTruncated
	ErrVarintOverflow = wire.ErrVarintOverflow
	ErrBadLength      = wire.ErrBadLength
	ErrWrongWireType  = wire.ErrWrongWireType
	ErrIllegalTag     = wire.ErrIllegalTag
	ErrEndGroup       = wire.ErrEndGroup
)

// DecodeError says where a malformed message went wrong.
type DecodeError = wire.Error

// UnmarshalZeroCopy decodes data into m, replacing its contents, like
// Unmarshal but without copying:
//
//   - every string in m (label names and values, metadata) aliases data, so
//     m is valid only while data is neither modified nor reused; a consumer
//     that keeps a string beyond that must copy it (strings.Clone);
//   - m's slices (m.Timeseries, each element's Labels, Samples, Exemplars,
//     Histograms and their inner slices, m.Metadata) are truncated and
//     reused, so decoding into a pooled message allocates only when a slice
//     has to grow;
//   - a repeated field the input does not carry is left nil, never empty
//     and non-nil, so the result equals decoding into a fresh message:
//     what one request left behind cannot change how the next one reads
//     (Prometheus's histogram validation tells a nil CustomValues from an
//     empty one). A field absent from one request and present in the next
//     therefore allocates again.
//
// Unknown fields are skipped, not kept. A malformed input returns a
// [*DecodeError] naming the field and the offset; m's contents are then
// unspecified but safe to reuse.
func (m *PushRequest) UnmarshalZeroCopy(data []byte) error {
	return m.UnmarshalZeroCopyLimits(data, DecodeLimits{})
}

// DecodeLimits bound what decoding one request may allocate: a few bytes of
// input (an empty series, an empty label) decode into a struct of tens of
// bytes, so without them a small body can take far more memory than its
// size. Zero means unlimited.
type DecodeLimits struct {
	// MaxSeries is the most series a request may hold.
	MaxSeries int
	// MaxLabels is the most label pairs a request may hold, series and
	// exemplar labels together.
	MaxLabels int
}

// ErrDecodeLimit is wrapped by [*DecodeLimitError].
var ErrDecodeLimit = errors.New("request over a decode limit")

// DecodeLimitError is a request refused by a [DecodeLimits] limit, found
// before the data over the limit was decoded.
type DecodeLimitError struct {
	// What is "series" or "labels".
	What string
	// Actual is how many the whole request holds; Limit the limit.
	Actual, Limit int
}

func (e *DecodeLimitError) Error() string {
	return fmt.Sprintf("request has %d %s, limit %d", e.Actual, e.What, e.Limit)
}

func (e *DecodeLimitError) Unwrap() error { return ErrDecodeLimit }

// labelBudget counts the labels decoded so far against DecodeLimits, and
// gathers the bits of the series labels' bytes for [DecodeInfo].
type labelBudget struct {
	n, max int
	// high ORs every byte of the series labels' names and values (of
	// their whole LabelPair messages on the fast path, whose keys and
	// lengths are below 0x80 too); bit 7 set means a byte is not ASCII.
	high uint64
}

// canGrow reports whether a slice holding have labels may grow by one
// more: checked only when the slice must allocate, so the steady state of
// a pooled request pays nothing per label.
func (b *labelBudget) canGrow(have int) bool {
	return b.max <= 0 || b.n+have < b.max
}

// add counts n decoded labels; false when the total is over the limit.
func (b *labelBudget) add(n int) bool {
	b.n += n
	return b.max <= 0 || b.n <= b.max
}

// UnmarshalZeroCopyLimits is [PushRequest.UnmarshalZeroCopy] with limits:
// a request over one of them fails with a [*DecodeLimitError] naming the
// request's actual count, before the part over the limit is decoded.
func (m *PushRequest) UnmarshalZeroCopyLimits(data []byte, lim DecodeLimits) error {
	_, err := m.UnmarshalZeroCopyInfo(data, lim)
	return err
}

// DecodeInfo is what decoding learnt of a request on the way.
type DecodeInfo struct {
	// ASCIILabels says every series label name and value (not exemplar
	// labels) is ASCII, so valid UTF-8: found while decoding, with the
	// bytes at hand, so that validation need not read them again.
	ASCIILabels bool
}

// UnmarshalZeroCopyInfo is [PushRequest.UnmarshalZeroCopyLimits], also
// saying what it learnt of the request. The info is meaningful only when
// the error is nil.
func (m *PushRequest) UnmarshalZeroCopyInfo(data []byte, lim DecodeLimits) (DecodeInfo, error) {
	budget := &labelBudget{max: lim.MaxLabels}
	ts := m.Timeseries[:0]
	md := m.Metadata[:0]
	m.Source = 0
	defer func() { m.Timeseries, m.Metadata = wire.NilIfEmpty(ts), wire.NilIfEmpty(md) }()

	r := wire.NewReader(data, "PushRequest")
	for r.Next() {
		switch r.Field() {
		case 1:
			var sub wire.Reader
			r.MessageTo(&sub, "PushRequest.timeseries", "TimeSeries")
			if r.Err() != nil {
				break
			}
			if lim.MaxSeries > 0 && len(ts) == lim.MaxSeries {
				series, _ := countPushRequest(data)
				return DecodeInfo{}, &DecodeLimitError{What: "series", Actual: series, Limit: lim.MaxSeries}
			}
			ts = wire.Grow(ts)
			if err := ts[len(ts)-1].unmarshalZeroCopy(&sub, budget); err != nil {
				if errors.Is(err, ErrDecodeLimit) {
					_, labels := countPushRequest(data)
					return DecodeInfo{}, &DecodeLimitError{What: "labels", Actual: labels, Limit: lim.MaxLabels}
				}
				return DecodeInfo{}, err
			}
		case 3:
			sub := r.Message("PushRequest.metadata", "MetricMetadata")
			if r.Err() != nil {
				break
			}
			md = wire.Grow(md)
			if err := md[len(md)-1].unmarshalZeroCopy(&sub); err != nil {
				return DecodeInfo{}, err
			}
		case 4:
			m.Source = Source(int32(r.Varint("PushRequest.source")))
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return DecodeInfo{}, err
	}
	return DecodeInfo{ASCIILabels: !wire.NotASCII(budget.high)}, nil
}

// errLabelBudget stops a series' decoding at the label over the limit;
// the caller turns it into a [*DecodeLimitError] with the actual count.
var errLabelBudget = fmt.Errorf("label limit: %w", ErrDecodeLimit)

func (m *TimeSeries) unmarshalZeroCopy(r *wire.Reader, budget *labelBudget) error {
	m.Labels = m.Labels[:0]
	m.Samples = m.Samples[:0]
	m.Exemplars = m.Exemplars[:0]
	m.Histograms = m.Histograms[:0]
	for r.Next() {
		var err error
		switch r.Field() {
		case 1:
			var sub wire.Reader
			r.MessageTo(&sub, "TimeSeries.labels", "LabelPair")
			if r.Err() != nil {
				break
			}
			if len(m.Labels) == cap(m.Labels) && !budget.canGrow(len(m.Labels)) {
				return errLabelBudget
			}
			m.Labels = wire.Grow(m.Labels)
			lp := &m.Labels[len(m.Labels)-1]
			if !lp.decodeFast(sub.Data(), budget) {
				err = lp.unmarshalZeroCopy(&sub)
				budget.high |= orBytes(lp.Name) | orBytes(lp.Value)
			}
		case 2:
			var sub wire.Reader
			r.MessageTo(&sub, "TimeSeries.samples", "Sample")
			m.Samples = wire.Grow(m.Samples)
			err = m.Samples[len(m.Samples)-1].unmarshalZeroCopy(&sub)
		case 3:
			sub := r.Message("TimeSeries.exemplars", "Exemplar")
			m.Exemplars = wire.Grow(m.Exemplars)
			err = m.Exemplars[len(m.Exemplars)-1].unmarshalZeroCopy(&sub, budget)
		case 4:
			sub := r.Message("TimeSeries.histograms", "Histogram")
			m.Histograms = wire.Grow(m.Histograms)
			err = m.Histograms[len(m.Histograms)-1].unmarshalZeroCopy(&sub)
		default:
			r.Skip()
		}
		if err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if !budget.add(len(m.Labels)) {
		return errLabelBudget
	}
	m.Labels, m.Samples = wire.NilIfEmpty(m.Labels), wire.NilIfEmpty(m.Samples)
	m.Exemplars, m.Histograms = wire.NilIfEmpty(m.Exemplars), wire.NilIfEmpty(m.Histograms)
	return nil
}

// decodeFast decodes b, a LabelPair message, when it has the layout every
// encoder writes: the name (field 1) then the value (field 2), each with a
// one-byte length, nothing else. Otherwise it leaves m alone and returns
// false, for the general decoder to read b (and report what is wrong).
// It ORs b's bytes (keys and lengths included: below 0x80 on this path)
// into budget.high.
func (m *LabelPair) decodeFast(b []byte, budget *labelBudget) bool {
	if len(b) < 4 || b[0] != 1<<3|2 {
		return false
	}
	nl := int(b[1])
	if nl >= 0x80 || len(b) < 4+nl || b[2+nl] != 2<<3|2 {
		return false
	}
	vl := int(b[3+nl])
	if vl >= 0x80 || len(b) != 4+nl+vl {
		return false
	}
	m.Name, m.Value = wire.Alias(b[2:2+nl]), wire.Alias(b[4+nl:])
	budget.high |= wire.OrBytes(b)
	return true
}

// orBytes is [wire.OrBytes] over a string's bytes, one at a time: only
// for label pairs off the fast path.
func orBytes(s string) uint64 {
	var w uint64
	for i := 0; i < len(s); i++ {
		w |= uint64(s[i])
	}
	return w
}

func (m *LabelPair) unmarshalZeroCopy(r *wire.Reader) error {
	m.Name, m.Value = "", ""
	for r.Next() {
		switch r.Field() {
		case 1:
			m.Name = r.String("LabelPair.name")
		case 2:
			m.Value = r.String("LabelPair.value")
		default:
			r.Skip()
		}
	}
	return r.Err()
}

func (m *Sample) unmarshalZeroCopy(r *wire.Reader) error {
	*m = Sample{}
	for r.Next() {
		switch r.Field() {
		case 1:
			m.Value = r.Double("Sample.value")
		case 2:
			m.TimestampMs = int64(r.Varint("Sample.timestamp_ms"))
		default:
			r.Skip()
		}
	}
	return r.Err()
}

func (m *Exemplar) unmarshalZeroCopy(r *wire.Reader, budget *labelBudget) error {
	m.Labels = m.Labels[:0]
	m.Value, m.TimestampMs = 0, 0
	for r.Next() {
		switch r.Field() {
		case 1:
			sub := r.Message("Exemplar.labels", "LabelPair")
			if r.Err() != nil {
				break
			}
			if len(m.Labels) == cap(m.Labels) && !budget.canGrow(len(m.Labels)) {
				return errLabelBudget
			}
			m.Labels = wire.Grow(m.Labels)
			if err := m.Labels[len(m.Labels)-1].unmarshalZeroCopy(&sub); err != nil {
				return err
			}
		case 2:
			m.Value = r.Double("Exemplar.value")
		case 3:
			m.TimestampMs = int64(r.Varint("Exemplar.timestamp_ms"))
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if !budget.add(len(m.Labels)) {
		return errLabelBudget
	}
	m.Labels = wire.NilIfEmpty(m.Labels)
	return nil
}

func (m *MetricMetadata) unmarshalZeroCopy(r *wire.Reader) error {
	*m = MetricMetadata{}
	for r.Next() {
		switch r.Field() {
		case 1:
			m.Type = MetricMetadata_MetricType(int32(r.Varint("MetricMetadata.type")))
		case 2:
			m.MetricFamilyName = r.String("MetricMetadata.metric_family_name")
		case 4:
			m.Help = r.String("MetricMetadata.help")
		case 5:
			m.Unit = r.String("MetricMetadata.unit")
		default:
			r.Skip()
		}
	}
	return r.Err()
}

// countPushRequest counts the series of a request and their labels,
// exemplar labels included, without decoding them, stopping at the first
// malformed field: only for a limit error's message.
func countPushRequest(data []byte) (series, labels int) {
	r := wire.NewReader(data, "")
	for r.Next() {
		if r.Field() == 1 && r.Type() == wire.BytesType {
			sub := r.Message("", "")
			if r.Err() != nil {
				break
			}
			series++
			labels += countFields(sub, 1, 3)
			continue
		}
		r.Skip()
	}
	return
}

// countFields counts the length-delimited fields number field of a message,
// plus those of its length-delimited sub-messages number sub (0 for none).
func countFields(r wire.Reader, field, sub int32) int {
	n := 0
	for r.Next() {
		if f := r.Field(); r.Type() == wire.BytesType && (f == field || f == sub) {
			m := r.Message("", "")
			if r.Err() != nil {
				break
			}
			if f == field {
				n++
			} else {
				n += countFields(m, field, 0)
			}
			continue
		}
		r.Skip()
	}
	return n
}

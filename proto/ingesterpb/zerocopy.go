package ingesterpb

// A hand-written decoder for PushRequest (remote-write 1.0's
// prometheus.WriteRequest plus our source field), independent of the
// gogo-generated code: it aliases strings into the input instead of copying
// them and reuses the destination's slices, so a pooled request decodes
// without allocating per label or per sample.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Sentinel errors wrapped by [DecodeError].
var (
	ErrTruncated      = errors.New("unexpected end of input")
	ErrVarintOverflow = errors.New("varint longer than 10 bytes")
	ErrBadLength      = errors.New("length prefix inconsistent with the data it covers")
	ErrWrongWireType  = errors.New("wrong wire type")
	ErrIllegalTag     = errors.New("illegal tag")
	ErrEndGroup       = errors.New("end group without a start group")
)

// DecodeError says where a malformed message went wrong.
type DecodeError struct {
	// Field is the message and field being decoded, e.g. "TimeSeries.labels".
	Field string
	// Offset is the byte offset in the whole input where decoding failed.
	Offset int
	// WireType is the wire type found, for ErrWrongWireType and ErrIllegalTag.
	WireType int
	Err      error
}

func (e *DecodeError) Error() string {
	if errors.Is(e.Err, ErrWrongWireType) || errors.Is(e.Err, ErrIllegalTag) {
		return fmt.Sprintf("decoding %s at offset %d: %v %d", e.Field, e.Offset, e.Err, e.WireType)
	}
	return fmt.Sprintf("decoding %s at offset %d: %v", e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Error codes returned by the low-level readers instead of errors, so the hot
// path never builds an error value.
const (
	codeTruncated = -1 - iota
	codeOverflow
	codeBadLength
	codeEndGroup
	codeIllegalWireType
	codeIllegalTag
)

func codeErr(field string, off, code, wt int) error {
	var err error
	switch code {
	case codeTruncated:
		err = ErrTruncated
	case codeOverflow:
		err = ErrVarintOverflow
	case codeBadLength:
		err = ErrBadLength
	case codeEndGroup:
		err = ErrEndGroup
	case codeIllegalTag:
		err = ErrIllegalTag
	default:
		err = ErrWrongWireType
	}
	return &DecodeError{Field: field, Offset: off, WireType: wt, Err: err}
}

func wireErr(field string, off, wt int) error {
	return &DecodeError{Field: field, Offset: off, WireType: wt, Err: ErrWrongWireType}
}

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

// labelBudget counts the labels decoded so far against DecodeLimits.
type labelBudget struct {
	n, max int
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
	budget := &labelBudget{max: lim.MaxLabels}
	ts := m.Timeseries[:0]
	md := m.Metadata[:0]
	m.Source = 0
	defer func() { m.Timeseries, m.Metadata = nilIfEmpty(ts), nilIfEmpty(md) }()

	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("PushRequest", i, next, wt)
		}
		i = next
		switch field {
		case 1:
			if wt != 2 {
				return wireErr("PushRequest.timeseries", pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr("PushRequest.timeseries", i, s, wt)
			}
			if lim.MaxSeries > 0 && len(ts) == lim.MaxSeries {
				series, _ := countPushRequest(data)
				return &DecodeLimitError{What: "series", Actual: series, Limit: lim.MaxSeries}
			}
			ts = grow(ts)
			if err := ts[len(ts)-1].unmarshalZeroCopy(data[s:e], s, budget); err != nil {
				if errors.Is(err, ErrDecodeLimit) {
					_, labels := countPushRequest(data)
					return &DecodeLimitError{What: "labels", Actual: labels, Limit: lim.MaxLabels}
				}
				return err
			}
			i = e
		case 3:
			if wt != 2 {
				return wireErr("PushRequest.metadata", pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr("PushRequest.metadata", i, s, wt)
			}
			md = grow(md)
			if err := md[len(md)-1].unmarshalZeroCopy(data[s:e], s); err != nil {
				return err
			}
			i = e
		case 4:
			if wt != 0 {
				return wireErr("PushRequest.source", pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr("PushRequest.source", i, n, wt)
			}
			m.Source = Source(int32(v))
			i = n
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("PushRequest", pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

// nilIfEmpty returns nil for an empty s, so that a reused slice that
// decoded nothing reads like a fresh message's absent field. The spare
// capacity is dropped with it.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// grow extends s by one element, reusing the element left in the spare
// capacity (and its inner slices) when there is one.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// errLabelBudget stops a series' decoding at the label over the limit;
// the caller turns it into a [*DecodeLimitError] with the actual count.
var errLabelBudget = fmt.Errorf("label limit: %w", ErrDecodeLimit)

func (m *TimeSeries) unmarshalZeroCopy(data []byte, base int, budget *labelBudget) error {
	m.Labels = m.Labels[:0]
	m.Samples = m.Samples[:0]
	m.Exemplars = m.Exemplars[:0]
	m.Histograms = m.Histograms[:0]

	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("TimeSeries", base+i, next, wt)
		}
		i = next
		if field >= 1 && field <= 4 && wt != 2 {
			return wireErr(timeSeriesFields[field], base+pre, wt)
		}
		var s, e int
		if field >= 1 && field <= 4 {
			s, e = readLen(data, i)
			if s < 0 {
				return codeErr(timeSeriesFields[field], base+i, s, wt)
			}
		}
		switch field {
		case 1:
			if len(m.Labels) == cap(m.Labels) && !budget.canGrow(len(m.Labels)) {
				return errLabelBudget
			}
			m.Labels = grow(m.Labels)
			if err := m.Labels[len(m.Labels)-1].unmarshalZeroCopy(data[s:e], base+s); err != nil {
				return err
			}
		case 2:
			m.Samples = grow(m.Samples)
			if err := m.Samples[len(m.Samples)-1].unmarshalZeroCopy(data[s:e], base+s); err != nil {
				return err
			}
		case 3:
			m.Exemplars = grow(m.Exemplars)
			if err := m.Exemplars[len(m.Exemplars)-1].unmarshalZeroCopy(data[s:e], base+s, budget); err != nil {
				return err
			}
		case 4:
			m.Histograms = grow(m.Histograms)
			if err := m.Histograms[len(m.Histograms)-1].unmarshalZeroCopy(data[s:e], base+s); err != nil {
				return err
			}
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("TimeSeries", base+pre, n, wt)
			}
			e = n
		}
		i = e
	}
	if !budget.add(len(m.Labels)) {
		return errLabelBudget
	}
	m.Labels, m.Samples = nilIfEmpty(m.Labels), nilIfEmpty(m.Samples)
	m.Exemplars, m.Histograms = nilIfEmpty(m.Exemplars), nilIfEmpty(m.Histograms)
	return nil
}

var timeSeriesFields = [...]string{"", "TimeSeries.labels", "TimeSeries.samples", "TimeSeries.exemplars", "TimeSeries.histograms"}

func (m *LabelPair) unmarshalZeroCopy(data []byte, base int) error {
	m.Name, m.Value = "", ""
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("LabelPair", base+i, next, wt)
		}
		i = next
		switch field {
		case 1, 2:
			if wt != 2 {
				return wireErr(labelPairFields[field], base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr(labelPairFields[field], base+i, s, wt)
			}
			if field == 1 {
				m.Name = yoloString(data[s:e])
			} else {
				m.Value = yoloString(data[s:e])
			}
			i = e
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("LabelPair", base+pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

var labelPairFields = [...]string{"", "LabelPair.name", "LabelPair.value"}

// yoloString returns a string that shares b's memory.
func yoloString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (m *Sample) unmarshalZeroCopy(data []byte, base int) error {
	*m = Sample{}
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("Sample", base+i, next, wt)
		}
		i = next
		switch field {
		case 1:
			if wt != 1 {
				return wireErr("Sample.value", base+pre, wt)
			}
			if i+8 > len(data) {
				return codeErr("Sample.value", base+i, codeTruncated, wt)
			}
			m.Value = math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))
			i += 8
		case 2:
			if wt != 0 {
				return wireErr("Sample.timestamp_ms", base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr("Sample.timestamp_ms", base+i, n, wt)
			}
			m.TimestampMs = int64(v)
			i = n
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("Sample", base+pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

func (m *Exemplar) unmarshalZeroCopy(data []byte, base int, budget *labelBudget) error {
	m.Labels = m.Labels[:0]
	m.Value, m.TimestampMs = 0, 0
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("Exemplar", base+i, next, wt)
		}
		i = next
		switch field {
		case 1:
			if wt != 2 {
				return wireErr("Exemplar.labels", base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr("Exemplar.labels", base+i, s, wt)
			}
			if len(m.Labels) == cap(m.Labels) && !budget.canGrow(len(m.Labels)) {
				return errLabelBudget
			}
			m.Labels = grow(m.Labels)
			if err := m.Labels[len(m.Labels)-1].unmarshalZeroCopy(data[s:e], base+s); err != nil {
				return err
			}
			i = e
		case 2:
			if wt != 1 {
				return wireErr("Exemplar.value", base+pre, wt)
			}
			if i+8 > len(data) {
				return codeErr("Exemplar.value", base+i, codeTruncated, wt)
			}
			m.Value = math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))
			i += 8
		case 3:
			if wt != 0 {
				return wireErr("Exemplar.timestamp_ms", base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr("Exemplar.timestamp_ms", base+i, n, wt)
			}
			m.TimestampMs = int64(v)
			i = n
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("Exemplar", base+pre, n, wt)
			}
			i = n
		}
	}
	if !budget.add(len(m.Labels)) {
		return errLabelBudget
	}
	m.Labels = nilIfEmpty(m.Labels)
	return nil
}

func (m *MetricMetadata) unmarshalZeroCopy(data []byte, base int) error {
	*m = MetricMetadata{}
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("MetricMetadata", base+i, next, wt)
		}
		i = next
		switch field {
		case 1:
			if wt != 0 {
				return wireErr("MetricMetadata.type", base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr("MetricMetadata.type", base+i, n, wt)
			}
			m.Type = MetricMetadata_MetricType(int32(v))
			i = n
		case 2, 4, 5:
			if wt != 2 {
				return wireErr(metadataFields[field], base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr(metadataFields[field], base+i, s, wt)
			}
			switch field {
			case 2:
				m.MetricFamilyName = yoloString(data[s:e])
			case 4:
				m.Help = yoloString(data[s:e])
			default:
				m.Unit = yoloString(data[s:e])
			}
			i = e
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("MetricMetadata", base+pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

var metadataFields = [...]string{2: "MetricMetadata.metric_family_name", 4: "MetricMetadata.help", 5: "MetricMetadata.unit"}

// countPushRequest counts the series of a request and their labels,
// exemplar labels included, without decoding them, stopping at the first
// malformed field: only for a limit error's message.
func countPushRequest(data []byte) (series, labels int) {
	for i := 0; i < len(data); {
		field, wt, next := readKey(data, i)
		if next < 0 {
			return
		}
		if field == 1 && wt == 2 {
			s, e := readLen(data, next)
			if s < 0 {
				return
			}
			series++
			labels += countFields(data[s:e], 1, 3)
			i = e
			continue
		}
		if i = skipField(data, i); i < 0 {
			return
		}
	}
	return
}

// countFields counts the length-delimited fields number field of a message,
// plus those of its length-delimited sub-messages number sub (0 for none).
func countFields(data []byte, field, sub int32) int {
	n := 0
	for i := 0; i < len(data); {
		f, wt, next := readKey(data, i)
		if next < 0 {
			return n
		}
		if wt == 2 && (f == field || f == sub) {
			s, e := readLen(data, next)
			if s < 0 {
				return n
			}
			if f == field {
				n++
			} else {
				n += countFields(data[s:e], field, 0)
			}
			i = e
			continue
		}
		if i = skipField(data, i); i < 0 {
			return n
		}
	}
	return n
}

// readVarint reads a varint at data[i:]. It returns the value and the index
// after it, or a negative code. Like the generated code, it accepts up to 10
// bytes and drops bits beyond 64.
func readVarint(data []byte, i int) (uint64, int) {
	if i < len(data) && data[i] < 0x80 {
		return uint64(data[i]), i + 1
	}
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if i >= len(data) {
			return 0, codeTruncated
		}
		b := data[i]
		i++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, i
		}
	}
	return 0, codeOverflow
}

// readKey reads a field key. A negative next is an error code; end-group
// keys and field numbers below 1 are errors, as in the generated code.
func readKey(data []byte, i int) (field int32, wt, next int) {
	k, n := readVarint(data, i)
	if n < 0 {
		return 0, 0, n
	}
	field, wt = int32(k>>3), int(k&7)
	if wt == 4 {
		return field, wt, codeEndGroup
	}
	if field <= 0 {
		return field, wt, codeIllegalTag
	}
	return field, wt, n
}

// readLen reads a length prefix at data[i:] and returns the bounds of the
// bytes it covers, or a negative code in start.
func readLen(data []byte, i int) (start, end int) {
	l, n := readVarint(data, i)
	if n < 0 {
		return n, 0
	}
	if l > uint64(len(data)-n) {
		if l > math.MaxInt64 {
			return codeBadLength, 0
		}
		return codeTruncated, 0
	}
	return n, n + int(l)
}

// skipField skips the field whose key starts at data[i:], groups included,
// with the generated code's rules. It returns the index after the field or a
// negative code.
func skipField(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		k, n := readVarint(data, i)
		if n < 0 {
			return n
		}
		i = n
		switch k & 7 {
		case 0:
			_, n := readVarint(data, i)
			if n < 0 {
				return n
			}
			i = n
		case 1:
			i += 8
		case 2:
			l, n := readVarint(data, i)
			if n < 0 {
				return n
			}
			if l > math.MaxInt64 || l > uint64(math.MaxInt-n) {
				return codeBadLength
			}
			i = n + int(l)
		case 3:
			depth++
		case 4:
			if depth == 0 {
				return codeEndGroup
			}
			depth--
		case 5:
			i += 4
		default:
			return codeIllegalWireType
		}
		if depth == 0 {
			if i > len(data) {
				return codeTruncated
			}
			return i
		}
	}
	return codeTruncated
}

package ingesterpb

import (
	"encoding/binary"
	"math"
)

// UnmarshalZeroCopy decodes data into m, replacing its contents and reusing
// its slices and oneof wrappers; see [PushRequest.UnmarshalZeroCopy]. The
// field numbers are those of remote-write 1.0's and 2.0's Histogram, so the
// remote-write 2.0 decoder uses it too (it skips 2.0's start_timestamp,
// which Histogram does not have).
func (m *Histogram) UnmarshalZeroCopy(data []byte) error {
	return m.unmarshalZeroCopy(data, 0)
}

func (m *Histogram) unmarshalZeroCopy(data []byte, base int) error {
	oldCount, oldZero := m.Count, m.ZeroCount
	*m = Histogram{
		NegativeSpans:  m.NegativeSpans[:0],
		NegativeDeltas: m.NegativeDeltas[:0],
		NegativeCounts: m.NegativeCounts[:0],
		PositiveSpans:  m.PositiveSpans[:0],
		PositiveDeltas: m.PositiveDeltas[:0],
		PositiveCounts: m.PositiveCounts[:0],
		CustomValues:   m.CustomValues[:0],
	}
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("Histogram", base+i, next, wt)
		}
		i = next
		name := "Histogram"
		if int(field) < len(histogramFields) {
			name = histogramFields[field]
		}
		var err error
		switch field {
		case 1, 6, 4, 14, 15: // varints
			if wt != 0 {
				return wireErr(name, base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr(name, base+i, n, wt)
			}
			i = n
			switch field {
			case 1:
				if c, ok := oldCount.(*Histogram_CountInt); ok {
					c.CountInt = v
					m.Count = c
				} else {
					m.Count = &Histogram_CountInt{CountInt: v}
				}
			case 6:
				if c, ok := oldZero.(*Histogram_ZeroCountInt); ok {
					c.ZeroCountInt = v
					m.ZeroCount = c
				} else {
					m.ZeroCount = &Histogram_ZeroCountInt{ZeroCountInt: v}
				}
			case 4:
				u := uint32(v)
				m.Schema = int32(u>>1) ^ -int32(u&1)
			case 14:
				m.ResetHint = Histogram_ResetHint(int32(v))
			case 15:
				m.TimestampMs = int64(v)
			}
		case 2, 3, 5, 7: // doubles
			if wt != 1 {
				return wireErr(name, base+pre, wt)
			}
			if i+8 > len(data) {
				return codeErr(name, base+i, codeTruncated, wt)
			}
			f := math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))
			i += 8
			switch field {
			case 2:
				if c, ok := oldCount.(*Histogram_CountFloat); ok {
					c.CountFloat = f
					m.Count = c
				} else {
					m.Count = &Histogram_CountFloat{CountFloat: f}
				}
			case 3:
				m.Sum = f
			case 5:
				m.ZeroThreshold = f
			case 7:
				if c, ok := oldZero.(*Histogram_ZeroCountFloat); ok {
					c.ZeroCountFloat = f
					m.ZeroCount = c
				} else {
					m.ZeroCount = &Histogram_ZeroCountFloat{ZeroCountFloat: f}
				}
			}
		case 8, 11: // spans
			if wt != 2 {
				return wireErr(name, base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr(name, base+i, s, wt)
			}
			if field == 8 {
				m.NegativeSpans = grow(m.NegativeSpans)
				err = m.NegativeSpans[len(m.NegativeSpans)-1].unmarshalZeroCopy(data[s:e], base+s)
			} else {
				m.PositiveSpans = grow(m.PositiveSpans)
				err = m.PositiveSpans[len(m.PositiveSpans)-1].unmarshalZeroCopy(data[s:e], base+s)
			}
			i = e
		case 9:
			m.NegativeDeltas, i, err = readSint64s(m.NegativeDeltas, data, i, pre, wt, base, name)
		case 12:
			m.PositiveDeltas, i, err = readSint64s(m.PositiveDeltas, data, i, pre, wt, base, name)
		case 10:
			m.NegativeCounts, i, err = readDoubles(m.NegativeCounts, data, i, pre, wt, base, name)
		case 13:
			m.PositiveCounts, i, err = readDoubles(m.PositiveCounts, data, i, pre, wt, base, name)
		case 16:
			m.CustomValues, i, err = readDoubles(m.CustomValues, data, i, pre, wt, base, name)
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr(name, base+pre, n, wt)
			}
			i = n
		}
		if err != nil {
			return err
		}
	}
	// A field this histogram does not carry is nil, as in a fresh message:
	// Prometheus refuses an exponential histogram whose CustomValues is
	// non-nil, so an empty slice left by a custom-bucket histogram decoded
	// here before made valid histograms of other tenants fail.
	m.NegativeSpans, m.NegativeDeltas = nilIfEmpty(m.NegativeSpans), nilIfEmpty(m.NegativeDeltas)
	m.NegativeCounts, m.PositiveSpans = nilIfEmpty(m.NegativeCounts), nilIfEmpty(m.PositiveSpans)
	m.PositiveDeltas, m.PositiveCounts = nilIfEmpty(m.PositiveDeltas), nilIfEmpty(m.PositiveCounts)
	m.CustomValues = nilIfEmpty(m.CustomValues)
	return nil
}

var histogramFields = [...]string{
	"Histogram", "Histogram.count_int", "Histogram.count_float", "Histogram.sum", "Histogram.schema",
	"Histogram.zero_threshold", "Histogram.zero_count_int", "Histogram.zero_count_float",
	"Histogram.negative_spans", "Histogram.negative_deltas", "Histogram.negative_counts",
	"Histogram.positive_spans", "Histogram.positive_deltas", "Histogram.positive_counts",
	"Histogram.reset_hint", "Histogram.timestamp_ms", "Histogram.custom_values",
}

// readSint64s appends one zigzag varint (wire type 0) or a packed run of
// them (wire type 2) to dst.
func readSint64s(dst []int64, data []byte, i, pre, wt, base int, name string) ([]int64, int, error) {
	zigzag := func(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }
	switch wt {
	case 0:
		v, n := readVarint(data, i)
		if n < 0 {
			return dst, i, codeErr(name, base+i, n, wt)
		}
		return append(dst, zigzag(v)), n, nil
	case 2:
		s, e := readLen(data, i)
		if s < 0 {
			return dst, i, codeErr(name, base+i, s, wt)
		}
		for j := s; j < e; {
			v, n := readVarint(data[:e], j)
			if n == codeTruncated {
				// The last varint runs past the packed run.
				n = codeBadLength
			}
			if n < 0 {
				return dst, i, codeErr(name, base+j, n, wt)
			}
			dst = append(dst, zigzag(v))
			j = n
		}
		return dst, e, nil
	}
	return dst, i, wireErr(name, base+pre, wt)
}

// readDoubles appends one double (wire type 1) or a packed run of them (wire
// type 2) to dst.
func readDoubles(dst []float64, data []byte, i, pre, wt, base int, name string) ([]float64, int, error) {
	switch wt {
	case 1:
		if i+8 > len(data) {
			return dst, i, codeErr(name, base+i, codeTruncated, wt)
		}
		return append(dst, math.Float64frombits(binary.LittleEndian.Uint64(data[i:]))), i + 8, nil
	case 2:
		s, e := readLen(data, i)
		if s < 0 {
			return dst, i, codeErr(name, base+i, s, wt)
		}
		if (e-s)%8 != 0 {
			return dst, i, codeErr(name, base+i, codeBadLength, wt)
		}
		for j := s; j < e; j += 8 {
			dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(data[j:])))
		}
		return dst, e, nil
	}
	return dst, i, wireErr(name, base+pre, wt)
}

func (m *BucketSpan) unmarshalZeroCopy(data []byte, base int) error {
	*m = BucketSpan{}
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("BucketSpan", base+i, next, wt)
		}
		i = next
		switch field {
		case 1, 2:
			name := "BucketSpan.offset"
			if field == 2 {
				name = "BucketSpan.length"
			}
			if wt != 0 {
				return wireErr(name, base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr(name, base+i, n, wt)
			}
			u := uint32(v)
			if field == 1 {
				m.Offset = int32(u>>1) ^ -int32(u&1)
			} else {
				m.Length = u
			}
			i = n
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("BucketSpan", base+pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

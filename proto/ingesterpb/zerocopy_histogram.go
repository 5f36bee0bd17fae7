package ingesterpb

import "github.com/hearthmetrics/hearth/proto/wire"

// UnmarshalZeroCopy decodes data into m, replacing its contents and reusing
// its slices and oneof wrappers; see [PushRequest.UnmarshalZeroCopy]. The
// field numbers are those of remote-write 1.0's and 2.0's Histogram, so the
// remote-write 2.0 decoder uses it too (it skips 2.0's start_timestamp,
// which Histogram does not have).
func (m *Histogram) UnmarshalZeroCopy(data []byte) error {
	r := wire.NewReader(data, "Histogram")
	return m.unmarshalZeroCopy(&r)
}

// UnmarshalZeroCopyFrom is [Histogram.UnmarshalZeroCopy] of an embedded
// message, for decoders of other messages: r's errors keep offsets in the
// whole input.
func (m *Histogram) UnmarshalZeroCopyFrom(r wire.Reader) error {
	return m.unmarshalZeroCopy(&r)
}

func (m *Histogram) unmarshalZeroCopy(r *wire.Reader) error {
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
	for r.Next() {
		var err error
		switch r.Field() {
		case 1:
			v := r.Varint("Histogram.count_int")
			if c, ok := oldCount.(*Histogram_CountInt); ok {
				c.CountInt = v
				m.Count = c
			} else {
				m.Count = &Histogram_CountInt{CountInt: v}
			}
		case 2:
			f := r.Double("Histogram.count_float")
			if c, ok := oldCount.(*Histogram_CountFloat); ok {
				c.CountFloat = f
				m.Count = c
			} else {
				m.Count = &Histogram_CountFloat{CountFloat: f}
			}
		case 3:
			m.Sum = r.Double("Histogram.sum")
		case 4:
			m.Schema = r.Sint32("Histogram.schema")
		case 5:
			m.ZeroThreshold = r.Double("Histogram.zero_threshold")
		case 6:
			v := r.Varint("Histogram.zero_count_int")
			if c, ok := oldZero.(*Histogram_ZeroCountInt); ok {
				c.ZeroCountInt = v
				m.ZeroCount = c
			} else {
				m.ZeroCount = &Histogram_ZeroCountInt{ZeroCountInt: v}
			}
		case 7:
			f := r.Double("Histogram.zero_count_float")
			if c, ok := oldZero.(*Histogram_ZeroCountFloat); ok {
				c.ZeroCountFloat = f
				m.ZeroCount = c
			} else {
				m.ZeroCount = &Histogram_ZeroCountFloat{ZeroCountFloat: f}
			}
		case 8:
			sub := r.Message("Histogram.negative_spans", "BucketSpan")
			m.NegativeSpans = wire.Grow(m.NegativeSpans)
			err = m.NegativeSpans[len(m.NegativeSpans)-1].unmarshalZeroCopy(&sub)
		case 9:
			m.NegativeDeltas = r.AppendSint64s(m.NegativeDeltas, "Histogram.negative_deltas")
		case 10:
			m.NegativeCounts = r.AppendDoubles(m.NegativeCounts, "Histogram.negative_counts")
		case 11:
			sub := r.Message("Histogram.positive_spans", "BucketSpan")
			m.PositiveSpans = wire.Grow(m.PositiveSpans)
			err = m.PositiveSpans[len(m.PositiveSpans)-1].unmarshalZeroCopy(&sub)
		case 12:
			m.PositiveDeltas = r.AppendSint64s(m.PositiveDeltas, "Histogram.positive_deltas")
		case 13:
			m.PositiveCounts = r.AppendDoubles(m.PositiveCounts, "Histogram.positive_counts")
		case 14:
			m.ResetHint = Histogram_ResetHint(int32(r.Varint("Histogram.reset_hint")))
		case 15:
			m.TimestampMs = int64(r.Varint("Histogram.timestamp_ms"))
		case 16:
			m.CustomValues = r.AppendDoubles(m.CustomValues, "Histogram.custom_values")
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
	// A field this histogram does not carry is nil, as in a fresh message:
	// Prometheus refuses an exponential histogram whose CustomValues is
	// non-nil, so an empty slice left by a custom-bucket histogram decoded
	// here before made valid histograms of other tenants fail.
	m.NegativeSpans, m.NegativeDeltas = wire.NilIfEmpty(m.NegativeSpans), wire.NilIfEmpty(m.NegativeDeltas)
	m.NegativeCounts, m.PositiveSpans = wire.NilIfEmpty(m.NegativeCounts), wire.NilIfEmpty(m.PositiveSpans)
	m.PositiveDeltas, m.PositiveCounts = wire.NilIfEmpty(m.PositiveDeltas), wire.NilIfEmpty(m.PositiveCounts)
	m.CustomValues = wire.NilIfEmpty(m.CustomValues)
	return nil
}

func (m *BucketSpan) unmarshalZeroCopy(r *wire.Reader) error {
	*m = BucketSpan{}
	for r.Next() {
		switch r.Field() {
		case 1:
			m.Offset = r.Sint32("BucketSpan.offset")
		case 2:
			m.Length = uint32(r.Varint("BucketSpan.length"))
		default:
			r.Skip()
		}
	}
	return r.Err()
}

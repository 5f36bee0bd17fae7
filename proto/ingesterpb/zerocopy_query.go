package ingesterpb

import "github.com/hearthmetrics/hearth/proto/wire"

// UnmarshalZeroCopy decodes a QueryStreamResponse without copying: label
// strings and chunk bytes alias data, and stay valid only while data is
// unchanged. The gRPC codec hands it a buffer of its own that is never
// reused, so a querier may keep them for the life of the query. m's slices
// are reused. Unknown fields are skipped; malformed input returns a
// [*DecodeError].
//
// The labels and chunks of every series are slices of two arrays, one per
// message, sized by a first pass that only counts: three allocations per
// message instead of a few per series.
func (m *QueryStreamResponse) UnmarshalZeroCopy(data []byte) error {
	nSeries, nLabels, nChunks := countQueryStream(data)
	series := m.Series[:0]
	if cap(series) < nSeries {
		series = make([]ChunkSeries, 0, nSeries)
	}
	labels := make([]LabelPair, nLabels)
	chunks := make([]Chunk, nChunks)
	defer func() { m.Series = wire.NilIfEmpty(series) }()
	r := wire.NewReader(data, "QueryStreamResponse")
	for r.Next() {
		if r.Field() != 1 {
			r.Skip()
			continue
		}
		var sub wire.Reader
		r.MessageTo(&sub, "QueryStreamResponse.series", "ChunkSeries")
		if r.Err() != nil {
			break
		}
		series = wire.Grow(series)
		cs := &series[len(series)-1]
		// Each series gets the slots the count found for it; should it
		// find more (it cannot, on input both passes read alike), Grow
		// appends past its capacity into a new array, never into a
		// neighbour's slots.
		nl, nc := countChunkSeries(sub)
		nl, nc = min(nl, len(labels)), min(nc, len(chunks))
		cs.Labels, labels = labels[:0:nl], labels[nl:]
		cs.Chunks, chunks = chunks[:0:nc], chunks[nc:]
		if err := cs.unmarshalZeroCopy(&sub); err != nil {
			return err
		}
	}
	return r.Err()
}

// countQueryStream counts the series of a QueryStreamResponse and their
// labels and chunks, stopping at the first malformed field: the counts
// only size arrays, the decoder reports errors.
func countQueryStream(data []byte) (series, labels, chunks int) {
	r := wire.NewReader(data, "")
	for r.Next() {
		if r.Field() != 1 || r.Type() != wire.BytesType {
			r.Skip()
			continue
		}
		sub := r.Message("", "")
		if r.Err() != nil {
			break
		}
		nl, nc := countChunkSeries(sub)
		series, labels, chunks = series+1, labels+nl, chunks+nc
	}
	return
}

// countChunkSeries counts the labels and chunks of one ChunkSeries.
func countChunkSeries(r wire.Reader) (labels, chunks int) {
	for r.Next() {
		if r.Type() == wire.BytesType {
			switch r.Field() {
			case 1:
				labels++
			case 2:
				chunks++
			}
		}
		r.Skip()
	}
	return
}

// unmarshalZeroCopy decodes one series into m's slices, reused from
// index 0.
func (m *ChunkSeries) unmarshalZeroCopy(r *wire.Reader) error {
	m.Labels = m.Labels[:0]
	m.Chunks = m.Chunks[:0]
	for r.Next() {
		var err error
		switch r.Field() {
		case 1:
			var sub wire.Reader
			r.MessageTo(&sub, "ChunkSeries.labels", "LabelPair")
			m.Labels = wire.Grow(m.Labels)
			err = m.Labels[len(m.Labels)-1].unmarshalZeroCopy(&sub)
		case 2:
			var sub wire.Reader
			r.MessageTo(&sub, "ChunkSeries.chunks", "Chunk")
			m.Chunks = wire.Grow(m.Chunks)
			err = m.Chunks[len(m.Chunks)-1].unmarshalZeroCopy(&sub)
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
	m.Labels, m.Chunks = wire.NilIfEmpty(m.Labels), wire.NilIfEmpty(m.Chunks)
	return nil
}

func (m *Chunk) unmarshalZeroCopy(r *wire.Reader) error {
	*m = Chunk{}
	for r.Next() {
		switch r.Field() {
		case 1:
			m.MinTimeMs = int64(r.Varint("Chunk.min_time_ms"))
		case 2:
			m.MaxTimeMs = int64(r.Varint("Chunk.max_time_ms"))
		case 3:
			m.Encoding = Chunk_Encoding(int32(r.Varint("Chunk.encoding")))
		case 4:
			m.Data = r.Bytes("Chunk.data")
		default:
			r.Skip()
		}
	}
	return r.Err()
}

package ingesterpb

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
	defer func() { m.Series = nilIfEmpty(series) }()
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("QueryStreamResponse", i, next, wt)
		}
		i = next
		if field != 1 {
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("QueryStreamResponse", pre, n, wt)
			}
			i = n
			continue
		}
		if wt != 2 {
			return wireErr("QueryStreamResponse.series", pre, wt)
		}
		s, e := readLen(data, i)
		if s < 0 {
			return codeErr("QueryStreamResponse.series", i, s, wt)
		}
		series = grow(series)
		cs := &series[len(series)-1]
		// Each series gets the slots the count found for it; should it
		// find more (it cannot, on input both passes read alike), grow
		// appends past its capacity into a new array, never into a
		// neighbour's slots.
		nl, nc := countChunkSeries(data[s:e])
		nl, nc = min(nl, len(labels)), min(nc, len(chunks))
		cs.Labels, labels = labels[:0:nl], labels[nl:]
		cs.Chunks, chunks = chunks[:0:nc], chunks[nc:]
		if err := cs.unmarshalZeroCopy(data[s:e], s); err != nil {
			return err
		}
		i = e
	}
	return nil
}

// countQueryStream counts the series of a QueryStreamResponse and their
// labels and chunks, stopping at the first malformed field: the counts
// only size arrays, the decoder reports errors.
func countQueryStream(data []byte) (series, labels, chunks int) {
	for i := 0; i < len(data); {
		field, wt, next := readKey(data, i)
		if next < 0 {
			return
		}
		if field != 1 || wt != 2 {
			if i = skipField(data, i); i < 0 {
				return
			}
			continue
		}
		s, e := readLen(data, next)
		if s < 0 {
			return
		}
		nl, nc := countChunkSeries(data[s:e])
		series, labels, chunks = series+1, labels+nl, chunks+nc
		i = e
	}
	return
}

// countChunkSeries counts the labels and chunks of one ChunkSeries.
func countChunkSeries(data []byte) (labels, chunks int) {
	for i := 0; i < len(data); {
		field, wt, next := readKey(data, i)
		if next < 0 {
			return
		}
		if wt == 2 {
			switch field {
			case 1:
				labels++
			case 2:
				chunks++
			}
		}
		if i = skipField(data, i); i < 0 {
			return
		}
	}
	return
}

// unmarshalZeroCopy decodes one series into m's slices, reused from
// index 0.
func (m *ChunkSeries) unmarshalZeroCopy(data []byte, base int) error {
	m.Labels = m.Labels[:0]
	m.Chunks = m.Chunks[:0]
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("ChunkSeries", base+i, next, wt)
		}
		i = next
		switch field {
		case 1, 2:
			if wt != 2 {
				return wireErr(chunkSeriesFields[field], base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr(chunkSeriesFields[field], base+i, s, wt)
			}
			var err error
			if field == 1 {
				m.Labels = grow(m.Labels)
				err = m.Labels[len(m.Labels)-1].unmarshalZeroCopy(data[s:e], base+s)
			} else {
				m.Chunks = grow(m.Chunks)
				err = m.Chunks[len(m.Chunks)-1].unmarshalZeroCopy(data[s:e], base+s)
			}
			if err != nil {
				return err
			}
			i = e
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("ChunkSeries", base+pre, n, wt)
			}
			i = n
		}
	}
	m.Labels, m.Chunks = nilIfEmpty(m.Labels), nilIfEmpty(m.Chunks)
	return nil
}

var chunkSeriesFields = [...]string{"", "ChunkSeries.labels", "ChunkSeries.chunks"}

func (m *Chunk) unmarshalZeroCopy(data []byte, base int) error {
	*m = Chunk{}
	i := 0
	for i < len(data) {
		pre := i
		field, wt, next := readKey(data, i)
		if next < 0 {
			return codeErr("Chunk", base+i, next, wt)
		}
		i = next
		switch field {
		case 1, 2, 3:
			if wt != 0 {
				return wireErr(chunkFields[field], base+pre, wt)
			}
			v, n := readVarint(data, i)
			if n < 0 {
				return codeErr(chunkFields[field], base+i, n, wt)
			}
			switch field {
			case 1:
				m.MinTimeMs = int64(v)
			case 2:
				m.MaxTimeMs = int64(v)
			case 3:
				m.Encoding = Chunk_Encoding(int32(v))
			}
			i = n
		case 4:
			if wt != 2 {
				return wireErr(chunkFields[field], base+pre, wt)
			}
			s, e := readLen(data, i)
			if s < 0 {
				return codeErr(chunkFields[field], base+i, s, wt)
			}
			m.Data = data[s:e:e]
			i = e
		default:
			n := skipField(data, pre)
			if n < 0 {
				return codeErr("Chunk", base+pre, n, wt)
			}
			i = n
		}
	}
	return nil
}

var chunkFields = [...]string{"", "Chunk.min_time_ms", "Chunk.max_time_ms", "Chunk.encoding", "Chunk.data"}

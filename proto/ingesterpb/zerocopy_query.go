package ingesterpb

// UnmarshalZeroCopy decodes a QueryStreamResponse without copying: label
// strings and chunk bytes alias data, and stay valid only while data is
// unchanged. The gRPC codec hands it a buffer of its own that is never
// reused, so a querier may keep them for the life of the query. m's slices
// are reused. Unknown fields are skipped; malformed input returns a
// [*DecodeError].
func (m *QueryStreamResponse) UnmarshalZeroCopy(data []byte) error {
	series := m.Series[:0]
	m.XXX_unrecognized = nil
	m.XXX_sizecache = 0
	defer func() { m.Series = series }()
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
		if err := series[len(series)-1].unmarshalZeroCopy(data[s:e], s); err != nil {
			return err
		}
		i = e
	}
	return nil
}

func (m *ChunkSeries) unmarshalZeroCopy(data []byte, base int) error {
	m.Labels = m.Labels[:0]
	m.Chunks = m.Chunks[:0]
	m.XXX_unrecognized = nil
	m.XXX_sizecache = 0
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

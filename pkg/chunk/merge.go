package chunk

import (
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// maxMergedSamples bounds a merged chunk: a query for a few minutes decodes
// at most this many samples of it. 2h at 1s is 7,200.
const maxMergedSamples = 16384

// mergeChunks returns cs with every run of consecutive XOR chunks that lie
// in one chunk window, in time order, re-encoded as one chunk (at most
// maxMergedSamples samples). A block's head cuts a series every ~120
// samples: four chunks per 2h window, each paying a cell (row key, column,
// header) and XOR's first-sample cost; merged, the window costs one.
// Replicas that flushed the same samples still write identical chunks
// (whatever their cut points were). Chunks that cannot be merged (other
// encodings, overlaps, chunks across windows, a chunk that fails to
// decode) are kept as they are. cs is not modified.
func (s schema) mergeChunks(cs []Chunk) []Chunk {
	if len(cs) < 2 {
		return cs
	}
	var out []Chunk
	for i := 0; i < len(cs); {
		j, n := i+1, numSamples(cs[i])
		for j < len(cs) && s.mergeable(cs[j-1], cs[j]) && n > 0 {
			m := numSamples(cs[j])
			if m == 0 || n+m > maxMergedSamples {
				break
			}
			n += m
			j++
		}
		if j == i+1 {
			out = append(out, cs[i])
			i = j
			continue
		}
		if merged, ok := mergeXOR(cs[i:j], n); ok {
			out = append(out, merged)
		} else {
			out = append(out, cs[i:j]...)
		}
		i = j
	}
	return out
}

// mergeable reports whether b can follow a in one merged chunk.
func (s schema) mergeable(a, b Chunk) bool {
	return a.Encoding == chunkenc.EncXOR && b.Encoding == chunkenc.EncXOR &&
		a.MaxTime < b.MinTime && s.windowOf(a.MinTime) == s.windowOf(b.MaxTime)
}

// numSamples is the sample count of an XOR chunk, 0 when unreadable.
func numSamples(c Chunk) int {
	if c.Encoding != chunkenc.EncXOR || len(c.Data) < 2 {
		return 0
	}
	return int(c.Data[0])<<8 | int(c.Data[1])
}

// mergeXOR re-encodes cs (XOR, in time order, n samples in all) as one
// chunk. It reports false when a chunk does not decode to what its header
// and times say, so the caller keeps the originals.
func mergeXOR(cs []Chunk, n int) (Chunk, bool) {
	out := chunkenc.NewXORChunk()
	app, err := out.Appender()
	if err != nil {
		return Chunk{}, false
	}
	var it chunkenc.Iterator
	last := int64(0)
	for k, c := range cs {
		ch, err := chunkenc.FromData(chunkenc.EncXOR, c.Data)
		if err != nil {
			return Chunk{}, false
		}
		it = ch.Iterator(it)
		first, count := true, 0
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				return Chunk{}, false
			}
			t, v := it.At()
			if (first && t != c.MinTime) || (k > 0 && first && t <= last) || t > c.MaxTime {
				return Chunk{}, false
			}
			first = false
			count++
			app.Append(0, t, v)
			last = t
		}
		if it.Err() != nil || last != c.MaxTime || count != numSamples(c) {
			return Chunk{}, false
		}
	}
	if out.NumSamples() != n {
		return Chunk{}, false
	}
	return Chunk{MinTime: cs[0].MinTime, MaxTime: cs[len(cs)-1].MaxTime, Encoding: chunkenc.EncXOR, Data: out.Bytes()}, true
}

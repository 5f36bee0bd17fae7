package chunk

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

const hour = int64(3600 * 1000)

// xorOf encodes samples (t, v) as one XOR chunk.
func xorOf(t testing.TB, ts []int64, vs []float64) Chunk {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	require.NoError(t, err)
	for i := range ts {
		app.Append(0, ts[i], vs[i])
	}
	return Chunk{MinTime: ts[0], MaxTime: ts[len(ts)-1], Encoding: chunkenc.EncXOR, Data: c.Bytes()}
}

// run returns n samples every step ms from mint, values from v0 upwards
// (every 7th one a stale marker).
func run(t testing.TB, mint, step int64, n int, v0 float64) Chunk {
	ts, vs := make([]int64, n), make([]float64, n)
	for i := range n {
		ts[i], vs[i] = mint+int64(i)*step, v0+float64(i)
		if i%7 == 6 {
			vs[i] = math.Float64frombits(value.StaleNaN)
		}
	}
	return xorOf(t, ts, vs)
}

// bits decodes every sample of cs as (t, float bits).
func bits(t testing.TB, cs []Chunk) [][2]uint64 {
	var out [][2]uint64
	for _, c := range cs {
		ch, err := c.Open()
		require.NoError(t, err)
		it := ch.Iterator(nil)
		for it.Next() != chunkenc.ValNone {
			ts, v := it.At()
			out = append(out, [2]uint64{uint64(ts), math.Float64bits(v)})
		}
		require.NoError(t, it.Err())
	}
	return out
}

func TestMergeChunks(t *testing.T) {
	s := newSchema(DefaultOptions())
	base := 1000 * 2 * hour // a window start
	const step = 15000
	corrupt := run(t, base+hour, step, 10, 0)
	corrupt.Data = append([]byte(nil), corrupt.Data[:len(corrupt.Data)/2]...)
	histogram := Chunk{MinTime: base + hour, MaxTime: base + hour + 1, Encoding: chunkenc.EncHistogram, Data: []byte{0, 1, 2}}
	for _, tc := range []struct {
		name   string
		in     []Chunk
		counts []int // sample counts of the chunks written
	}{
		{"one chunk", []Chunk{run(t, base, step, 120, 0)}, []int{120}},
		{"four chunks of one window", []Chunk{
			run(t, base, step, 120, 0), run(t, base+30*60000, step, 120, 1e6),
			run(t, base+60*60000, step, 120, 2), run(t, base+90*60000, step, 120, 3),
		}, []int{480}},
		{"two windows", []Chunk{
			run(t, base, step, 120, 0), run(t, base+30*60000, step, 120, 0),
			run(t, base+2*hour, step, 120, 0), run(t, base+2*hour+30*60000, step, 120, 0),
		}, []int{240, 240}},
		{"a chunk across windows stays alone", []Chunk{
			run(t, base, step, 120, 0), run(t, base+hour+59*60000, step, 20, 0), run(t, base+2*hour+10*60000, step, 20, 0),
		}, []int{120, 20, 20}},
		{"overlapping chunks stay apart", []Chunk{run(t, base, step, 120, 0), run(t, base+10*60000, step, 120, 0)}, []int{120, 120}},
		{"other encodings stay apart", []Chunk{run(t, base, step, 120, 0), histogram}, []int{120, -1}},
		{"a chunk that does not decode keeps its run apart", []Chunk{run(t, base, step, 120, 0), corrupt}, []int{120, -1}},
		{"merged chunks are bounded", []Chunk{
			run(t, base, 100, maxMergedSamples-10, 0), run(t, base+int64(maxMergedSamples)*100, 100, 20, 0), run(t, base+int64(maxMergedSamples+30)*100, 100, 20, 0),
		}, []int{maxMergedSamples - 10, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.mergeChunks(tc.in)
			require.Len(t, got, len(tc.counts))
			for i, c := range got {
				if tc.counts[i] < 0 {
					continue
				}
				require.Equal(t, tc.counts[i], numSamples(c))
				require.Equal(t, c.MinTime, int64(bits(t, []Chunk{c})[0][0]))
				all := bits(t, []Chunk{c})
				require.Equal(t, c.MaxTime, int64(all[len(all)-1][0]))
			}
			var decodable []Chunk
			for _, c := range tc.in {
				if c.Encoding == chunkenc.EncXOR && &c.Data[0] != &corrupt.Data[0] {
					decodable = append(decodable, c)
				}
			}
			var gotDecodable []Chunk
			for _, c := range got {
				if c.Encoding == chunkenc.EncXOR && &c.Data[0] != &corrupt.Data[0] {
					gotDecodable = append(gotDecodable, c)
				}
			}
			require.Equal(t, bits(t, decodable), bits(t, gotDecodable), "samples (stale markers bit for bit) unchanged")
		})
	}
}

func FuzzMergeChunks(f *testing.F) {
	f.Add(run(f, 0, 15000, 120, 0).Data, run(f, 120*15000, 15000, 120, 5).Data)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		s := newSchema(DefaultOptions())
		in := []Chunk{{MinTime: 0, MaxTime: 1, Encoding: chunkenc.EncXOR, Data: a}, {MinTime: 2, MaxTime: 3, Encoding: chunkenc.EncXOR, Data: b}}
		for i := range in {
			// Give each chunk its real time range when it decodes.
			if ch, err := in[i].Open(); err == nil {
				it := ch.Iterator(nil)
				first := true
				for it.Next() == chunkenc.ValFloat {
					ts, _ := it.At()
					if first {
						in[i].MinTime, first = ts, false
					}
					in[i].MaxTime = ts
				}
			}
		}
		out := s.mergeChunks(in)
		if len(out) == 1 {
			// Merged: the samples are exactly the inputs'.
			require.Equal(t, bits(t, in), bits(t, out))
		}
	})
}

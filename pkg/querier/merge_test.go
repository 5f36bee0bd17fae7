package querier

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

type sample struct {
	t int64
	f float64
}

// xorChunks encodes samples into XOR chunks of at most perChunk samples.
func xorChunks(t testing.TB, samples []sample, perChunk int) []Chunk {
	t.Helper()
	var out []Chunk
	for len(samples) > 0 {
		n := min(perChunk, len(samples))
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		require.NoError(t, err)
		for _, s := range samples[:n] {
			app.Append(0, s.t, s.f)
		}
		out = append(out, Chunk{MinTime: samples[0].t, MaxTime: samples[n-1].t, Encoding: chunkenc.EncXOR, Data: c.Bytes()})
		samples = samples[n:]
	}
	return out
}

func series(from, to, step int64, skip ...int64) []sample {
	var out []sample
	for ts := from; ts <= to; ts += step {
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == ts
		}
		if !skipped {
			out = append(out, sample{ts, float64(ts) / 10})
		}
	}
	return out
}

func drain(t testing.TB, it chunkenc.Iterator) []sample {
	t.Helper()
	var out []sample
	for typ := it.Next(); typ != chunkenc.ValNone; typ = it.Next() {
		require.Equal(t, chunkenc.ValFloat, typ)
		ts, f := it.At()
		require.Equal(t, ts, it.AtT())
		out = append(out, sample{ts, f})
	}
	require.NoError(t, it.Err())
	return out
}

func TestMergeChunks(t *testing.T) {
	full := series(0, 1000, 10)
	tests := map[string]struct {
		replicas   [][]Chunk
		mint, maxt int64
		want       []sample
		wantChunks int // after dropping identical chunks; 0 = don't check
	}{
		"identical replicas are read once": {
			replicas: [][]Chunk{xorChunks(t, full, 30), xorChunks(t, full, 30), xorChunks(t, full, 30)},
			mint:     math.MinInt64, maxt: math.MaxInt64,
			want:       full,
			wantChunks: 4,
		},
		"three replicas each missing different samples give the whole series": {
			replicas: [][]Chunk{
				xorChunks(t, series(0, 1000, 10, 0, 500, 990), 30),
				xorChunks(t, series(0, 1000, 10, 10, 510, 1000), 25),
				xorChunks(t, series(0, 1000, 10, 20, 520, 500), 40),
			},
			mint: math.MinInt64, maxt: math.MaxInt64,
			want: full,
		},
		"a replica that stopped early and one that started late": {
			replicas: [][]Chunk{xorChunks(t, series(0, 400, 10), 30), xorChunks(t, series(300, 1000, 10), 30)},
			mint:     math.MinInt64, maxt: math.MaxInt64,
			want: full,
		},
		"samples outside [mint, maxt] are left out": {
			replicas: [][]Chunk{xorChunks(t, full, 30), xorChunks(t, series(0, 1000, 10, 300), 50)},
			mint:     295, maxt: 605,
			want: series(300, 600, 10),
		},
		"no chunks": {mint: 0, maxt: 100},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var chunks []Chunk
			for _, r := range tc.replicas {
				chunks = append(chunks, r...)
			}
			s := MergeChunks(labels.FromStrings("a", "b"), chunks, tc.mint, tc.maxt)
			if tc.wantChunks > 0 {
				require.Len(t, s.chunks, tc.wantChunks)
			}
			it := s.Iterator(nil)
			require.Equal(t, tc.want, drain(t, it))
			// The iterator is reusable.
			require.Equal(t, tc.want, drain(t, s.Iterator(it)))
		})
	}
}

func TestMergeIteratorSeek(t *testing.T) {
	chunks := append(xorChunks(t, series(0, 1000, 10, 500), 30), xorChunks(t, series(0, 1000, 10, 200), 40)...)
	s := MergeChunks(labels.EmptyLabels(), chunks, 100, 900)
	tests := map[string]struct {
		seeks []int64
		want  []int64 // timestamp after each seek; -1 for none
	}{
		"before mint lands on mint":        {seeks: []int64{0}, want: []int64{100}},
		"between samples":                  {seeks: []int64{495}, want: []int64{500}},
		"backwards seeks do not move":      {seeks: []int64{600, 300}, want: []int64{600, 600}},
		"past maxt ends the iteration":     {seeks: []int64{901}, want: []int64{-1}},
		"on a sample only one replica has": {seeks: []int64{200, 500}, want: []int64{200, 500}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			it := s.Iterator(nil)
			for i, ts := range tc.seeks {
				typ := it.Seek(ts)
				if tc.want[i] < 0 {
					require.Equal(t, chunkenc.ValNone, typ)
					continue
				}
				require.Equal(t, chunkenc.ValFloat, typ)
				require.Equal(t, tc.want[i], it.AtT())
			}
		})
	}
	// After a seek, Next goes on with the following distinct timestamps.
	it := s.Iterator(nil)
	require.Equal(t, chunkenc.ValFloat, it.Seek(480))
	require.Equal(t, series(480, 900, 10), append([]sample{{480, 48}}, drain(t, it)...))
}

func TestMergeHistogramsKeepHintsWithoutOverlap(t *testing.T) {
	c := chunkenc.NewHistogramChunk()
	app, err := c.Appender()
	require.NoError(t, err)
	for i := range 5 {
		h := &histogram.Histogram{Count: uint64(i + 1), Sum: float64(i), PositiveSpans: []histogram.Span{{Length: 1}}, PositiveBuckets: []int64{int64(i + 1)}}
		_, _, app, err = app.AppendHistogram(nil, 0, int64(i*10), h, false)
		require.NoError(t, err)
	}
	chk := Chunk{MinTime: 0, MaxTime: 40, Encoding: chunkenc.EncHistogram, Data: c.Bytes()}
	s := MergeChunks(labels.EmptyLabels(), []Chunk{chk, chk}, 0, 40)
	it := s.Iterator(nil)
	require.Equal(t, chunkenc.ValHistogram, it.Seek(20))
	_, h := it.AtHistogram(nil)
	require.Equal(t, histogram.NotCounterReset, h.CounterResetHint)
	require.Equal(t, uint64(3), h.Count)
}

func TestMergeCorruptChunkIsAnError(t *testing.T) {
	for name, chk := range map[string]Chunk{
		"unknown encoding": {MinTime: 0, MaxTime: 10, Encoding: chunkenc.Encoding(200), Data: []byte{0, 1}},
		"truncated data":   {MinTime: 0, MaxTime: 10, Encoding: chunkenc.EncXOR, Data: []byte{0, 5, 0xff}},
	} {
		t.Run(name, func(t *testing.T) {
			it := MergeChunks(labels.EmptyLabels(), []Chunk{chk}, 0, 10).Iterator(nil)
			for it.Next() != chunkenc.ValNone {
			}
			require.Error(t, it.Err())
		})
	}
}

// TestReplicaMergeThroughIngesters pushes a different subset of one series
// to each of three ingesters and reads it back whole through the queryable.
func TestReplicaMergeThroughIngesters(t *testing.T) {
	c := newCluster(t, 3)
	c.maxErrors = 0 // Every replica must answer: the merge is under test.
	ctx := tenant.WithID(context.Background(), "merge")
	lset := labels.FromStrings("__name__", "up", "job", "a")
	for i, skip := range [][]int64{{0, 30_000, 590_000}, {10_000, 300_000}, {20_000, 310_000, 600_000}} {
		ts := ingesterpb.TimeSeries{Labels: toPairs(lset)}
		for _, s := range series(0, 600_000, 10_000, skip...) {
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: s.t, Value: s.f})
		}
		require.NoError(t, c.push(ctx, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{ts}}, i))
	}
	q, err := newTestQueryable(c).Querier(0, 600_000)
	require.NoError(t, err)
	ss := q.Select(ctx, true, nil, labels.MustNewMatcher(labels.MatchEqual, "job", "a"))
	require.True(t, ss.Next())
	require.Equal(t, lset, ss.At().Labels())
	require.Equal(t, series(0, 600_000, 10_000), drain(t, ss.At().Iterator(nil)))
	require.False(t, ss.Next())
	require.NoError(t, ss.Err())
}

var _ storage.Series = (*ChunkSeries)(nil)

// mergeReplicas merges whole answers (per ingester, its messages) through
// a replicaMerger, as selectIngesters does message by message.
func mergeReplicas(answers [][][]ingesterpb.ChunkSeries, hash func([]ingesterpb.LabelPair) uint64) (out []seriesChunks, nChunks, nBytes int, err error) {
	m := newReplicaMerger(len(answers), hash)
	for _, answer := range answers {
		for _, msg := range answer {
			if err := m.add(msg); err != nil {
				return nil, 0, 0, err
			}
		}
	}
	out, nChunks, nBytes = m.close()
	return out, nChunks, nBytes, nil
}

func TestMergeReplicas(t *testing.T) {
	pairs := func(kv ...string) []ingesterpb.LabelPair {
		var out []ingesterpb.LabelPair
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ingesterpb.LabelPair{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	chunkAt := func(mint int64) []ingesterpb.Chunk {
		return []ingesterpb.Chunk{{MinTimeMs: mint, MaxTimeMs: mint + 10, Encoding: ingesterpb.Chunk_ENCODING_XOR, Data: []byte{byte(mint)}}}
	}
	a, b, c := pairs("__name__", "up", "job", "a"), pairs("__name__", "up", "job", "b"), pairs("__name__", "up", "job", "a\xffb")
	answers := [][][]ingesterpb.ChunkSeries{ // Per ingester, per message.
		{{{Labels: b, Chunks: chunkAt(1)}}, {{Labels: a, Chunks: chunkAt(2)}}},
		{{{Labels: a, Chunks: chunkAt(3)}, {Labels: c, Chunks: chunkAt(4)}}},
		{{{Labels: c, Chunks: chunkAt(5)}, {Labels: b, Chunks: chunkAt(6)}}, {}, {{Labels: a, Chunks: chunkAt(7)}}},
	}
	want := map[string][]int64{ // Series → the min times of its chunks, in replica order.
		`{__name__="up", job="a"}`:      {2, 3, 7},
		`{__name__="up", job="b"}`:      {1, 6},
		`{__name__="up", job="a\xffb"}`: {4, 5},
	}
	for name, hash := range map[string]func([]ingesterpb.LabelPair) uint64{
		"xxhash":           hashPairs,
		"every hash equal": func([]ingesterpb.LabelPair) uint64 { return 42 },
	} {
		t.Run(name, func(t *testing.T) {
			out, nChunks, nBytes, err := mergeReplicas(answers, hash)
			require.NoError(t, err)
			require.Equal(t, 7, nChunks)
			require.Equal(t, 7, nBytes)
			got := map[string][]int64{}
			for _, s := range out {
				for _, c := range s.chunks {
					got[s.lset.String()] = append(got[s.lset.String()], c.MinTime)
				}
			}
			require.Equal(t, want, got)
		})
	}
	t.Run("one answer", func(t *testing.T) {
		out, nChunks, _, err := mergeReplicas(answers[:1], func([]ingesterpb.LabelPair) uint64 { panic("one answer needs no lookup") })
		require.NoError(t, err)
		require.Equal(t, 2, nChunks)
		require.Len(t, out, 2)
		require.Equal(t, `{__name__="up", job="b"}`, out[0].lset.String())
		require.Equal(t, []int64{1}, []int64{out[0].chunks[0].MinTime})
		require.Equal(t, `{__name__="up", job="a"}`, out[1].lset.String())
		require.Equal(t, []int64{2}, []int64{out[1].chunks[0].MinTime})
	})
	t.Run("closed", func(t *testing.T) {
		m := newReplicaMerger(2, hashPairs)
		require.NoError(t, m.add(answers[0][0]))
		out, nChunks, _ := m.close()
		require.Len(t, out, 1)
		require.Equal(t, 1, nChunks)
		require.ErrorIs(t, m.add(answers[0][1]), errMergeClosed)
	})
	t.Run("labels out of order", func(t *testing.T) {
		out, _, _, err := mergeReplicas([][][]ingesterpb.ChunkSeries{{{{Labels: pairs("job", "a", "__name__", "up")}}}}, hashPairs)
		require.NoError(t, err)
		require.Equal(t, labels.FromStrings("__name__", "up", "job", "a"), out[0].lset)
	})
}

// TestSelectOrder checks Select's order contract: sorted by labels when
// asked, every series either way. The ingester answers in the order it
// created the series, which is not the labels' order.
func TestSelectOrder(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n, " ingesters"), func(t *testing.T) {
			c := newCluster(t, n)
			ctx := tenant.WithID(context.Background(), "order")
			var want []string
			for _, job := range []string{"z", "b", "y", "a", "x"} {
				lset := labels.FromStrings("__name__", "up", "job", job)
				want = append(want, lset.String())
				ts := ingesterpb.TimeSeries{Labels: toPairs(lset), Samples: []ingesterpb.Sample{{TimestampMs: 1000, Value: 1}}}
				require.NoError(t, c.push(ctx, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{ts}}))
			}
			slices.Sort(want)
			q, err := newTestQueryable(c).Querier(0, 10_000)
			require.NoError(t, err)
			for _, sorted := range []bool{true, false} {
				var got []string
				ss := q.Select(ctx, sorted, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "up"))
				for ss.Next() {
					got = append(got, ss.At().Labels().String())
				}
				require.NoError(t, ss.Err())
				if sorted {
					require.Equal(t, want, got)
				} else {
					require.ElementsMatch(t, want, got)
				}
			}
		})
	}
}

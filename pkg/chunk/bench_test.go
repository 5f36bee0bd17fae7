package chunk_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
)

// block returns n series × 2h at 15s in four 120-sample XOR chunks, starting
// at mint.
func block(b *testing.B, n int, mint int64) []chunk.SeriesChunks {
	out := make([]chunk.SeriesChunks, 0, n)
	for i := range n {
		ls := labels.FromStrings("__name__", fmt.Sprintf("metric_%d", i%20), "instance", fmt.Sprintf("host-%04d:9100", i), "job", "node")
		sc := chunk.SeriesChunks{Labels: ls}
		for c := range 4 {
			sc.Chunks = append(sc.Chunks, chunktest.XORChunk(b, mint+int64(c)*120*15000, 120, 15000, uint64(i*4+c)))
		}
		out = append(out, sc)
	}
	return out
}

func BenchmarkWriteSeries(b *testing.B) {
	ctx := context.Background()
	be := backendtest.NewPebble(b)
	batch := block(b, 1000, chunktest.Base)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		// A new window (and, every 12th, a new bucket) each time, with a
		// fresh store: the cold path of a flush.
		s, _ := chunktest.NewStore(b, be, nil)
		for j := range batch {
			for k := range batch[j].Chunks {
				batch[j].Chunks[k].MinTime += 2 * 3600 * 1000
				batch[j].Chunks[k].MaxTime += 2 * 3600 * 1000
			}
		}
		_, err := s.WriteSeries(ctx, "bench", batch)
		require.NoError(b, err)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*1000), "ns/series")
}

func BenchmarkSelect(b *testing.B) {
	ctx := context.Background()
	be := backendtest.NewPebble(b)
	s, _ := chunktest.NewStore(b, be, nil)
	_, err := s.WriteSeries(ctx, "bench", block(b, 1000, chunktest.Base))
	require.NoError(b, err)
	uncached, _ := chunktest.NewStore(b, be, func(o *chunk.Options) { o.IndexCacheBytes, o.ChunkCacheBytes = 0, 0 })
	cases := map[string]struct {
		store *chunk.Store
		m     *labels.Matcher
		want  int
	}{
		"equality, uncached":  {store: uncached, m: chunktest.MustMatcher(b, labels.MatchEqual, "__name__", "metric_3"), want: 50},
		"equality, cached":    {store: s, m: chunktest.MustMatcher(b, labels.MatchEqual, "__name__", "metric_3"), want: 50},
		"regex, uncached":     {store: uncached, m: chunktest.MustMatcher(b, labels.MatchRegexp, "instance", "host-00.*"), want: 100},
		"no metric, uncached": {store: uncached, m: chunktest.MustMatcher(b, labels.MatchEqual, "job", "node"), want: 1000},
	}
	for name, tc := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := tc.store.Select(ctx, "bench", chunktest.Base, chunktest.Base+3600*1000, tc.m)
				require.NoError(b, err)
				require.Len(b, got, tc.want)
			}
		})
	}
}

func BenchmarkLabelValues(b *testing.B) {
	ctx := context.Background()
	be := backendtest.NewPebble(b)
	s, _ := chunktest.NewStore(b, be, func(o *chunk.Options) { o.IndexCacheBytes = 0 })
	_, err := s.WriteSeries(ctx, "bench", block(b, 1000, chunktest.Base))
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		vs, err := s.LabelValues(ctx, "bench", "instance", chunktest.Base, chunktest.Base+3600*1000)
		require.NoError(b, err)
		require.Len(b, vs, 1000)
	}
}

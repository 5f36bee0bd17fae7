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

// BenchmarkSelectTombstones measures what reading a tenant's tombstones
// (none) costs a Select, with the index and chunk caches warm: read on
// every Select (TombstoneCacheTTL 0) against cached for the default TTL,
// for one series and for 50, on Pebble and on the Bigtable emulator
// (bttest, over gRPC on loopback: a real Bigtable adds its network round
// trip).
func BenchmarkSelectTombstones(b *testing.B) {
	ctx := context.Background()
	backends := map[string]func(testing.TB) chunk.Backend{
		"pebble":   func(t testing.TB) chunk.Backend { return backendtest.NewPebble(t) },
		"bigtable": func(t testing.TB) chunk.Backend { return backendtest.NewBigtable(t) },
	}
	for backend, newBackend := range backends {
		be := newBackend(b)
		w, _ := chunktest.NewStore(b, be, nil)
		_, err := w.WriteSeries(ctx, "bench", block(b, 1000, chunktest.Base))
		require.NoError(b, err)
		for _, sel := range []struct {
			name string
			m    *labels.Matcher
			want int
		}{
			{"1 series", chunktest.MustMatcher(b, labels.MatchEqual, "instance", "host-0003:9100"), 1},
			{"50 series", chunktest.MustMatcher(b, labels.MatchEqual, "__name__", "metric_3"), 50},
		} {
			for _, ttl := range []string{"read every time", "cached"} {
				s, _ := chunktest.NewStore(b, be, func(o *chunk.Options) {
					if ttl == "read every time" {
						o.TombstoneCacheTTL = 0
					}
				})
				b.Run(fmt.Sprintf("%s/%s/tombstones %s", backend, sel.name, ttl), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						got, err := s.Select(ctx, "bench", chunktest.Base, chunktest.Base+3600*1000, sel.m)
						require.NoError(b, err)
						require.Len(b, got, sel.want)
					}
				})
			}
		}
	}
}

package usage

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// cellBytes is the stored size of a chunk cell (docs/schema.md of package
// chunk): version, minT varint, maxT−minT uvarint, encoding, data.
func cellBytes(c chunk.Chunk) uint64 {
	return uint64(1 + len(binary.AppendVarint(nil, c.MinTime)) + len(binary.AppendUvarint(nil, uint64(c.MaxTime-c.MinTime))) + 1 + len(c.Data))
}

func TestSizerMeasuresWhatTheStoreKeeps(t *testing.T) {
	ctx := context.Background()
	table := openTable(t)
	store, _ := chunktest.NewStore(t, table, nil)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	reg := prometheus.NewPedanticRegistry()
	sizer, err := NewSizer(SizerDeps{Interval: time.Hour, Store: store, Table: table, Registerer: reg, Now: func() time.Time { return now }})
	require.NoError(t, err)
	p := startProc(t, table, "reader")

	write := func(tn string, at time.Time, seed uint64) uint64 {
		c := chunktest.XORChunk(t, at.UnixMilli(), 120, 15_000, seed)
		batch := []chunk.SeriesChunks{{Labels: labels.FromStrings("__name__", "m", "seed", string(rune('a'+seed))), Chunks: []chunk.Chunk{c}}}
		// Three replicas flush the same chunk: the store keeps one cell.
		for range 3 {
			_, err := store.WriteSeries(ctx, tn, batch)
			require.NoError(t, err)
		}
		return cellBytes(c)
	}
	old := now.Add(-5 * 24 * time.Hour).Truncate(24 * time.Hour).Add(time.Hour)
	want := write("team-a", old, 1) + write("team-a", now.Add(-time.Hour), 2)
	wantB := write("team-b", now.Add(-time.Hour), 3)

	require.NoError(t, sizer.Measure(ctx))
	require.Equal(t, want, value(usageOf(t, p.ledger, "team-a"), StoredBytesName, nil))
	require.Equal(t, wantB, value(usageOf(t, p.ledger, "team-b"), StoredBytesName, nil))
	require.InDelta(t, float64(want), testutil.ToFloat64(sizer.bytes.WithLabelValues("team-a")), 0)

	// Today's bucket has not settled: measured again. The old one has:
	// its measurement is kept (a chunk written there now is not seen) ...
	want += write("team-a", now.Add(-30*time.Minute), 4)
	late := write("team-a", old.Add(time.Hour), 5)
	require.NoError(t, sizer.Measure(ctx))
	require.Equal(t, want, value(usageOf(t, p.ledger, "team-a"), StoredBytesName, nil))

	// ... until the tenant's series deletions change, which rewrite
	// chunks anywhere: then every bucket is measured again.
	require.NoError(t, table.Apply(ctx, []widecolumn.RowMutation{{Key: append(widecolumn.Tombstones.AppendTenant(nil, "team-a"), 'D'), Cells: []widecolumn.Cell{{Column: []byte("t"), Value: []byte("{}")}}}}))
	require.NoError(t, sizer.Measure(ctx))
	want += late
	require.Equal(t, want, value(usageOf(t, p.ledger, "team-a"), StoredBytesName, nil))

	// Retention drops the old bucket: its bytes leave the total.
	_, err = widecolumn.DropBucketsBefore(ctx, table, widecolumn.Chunks, "team-a", store.BucketOf(now.Add(-24*time.Hour)))
	require.NoError(t, err)
	require.NoError(t, sizer.Measure(ctx))
	require.Equal(t, cellBytes(chunktest.XORChunk(t, now.Add(-time.Hour).UnixMilli(), 120, 15_000, 2))+cellBytes(chunktest.XORChunk(t, now.Add(-30*time.Minute).UnixMilli(), 120, 15_000, 4)),
		value(usageOf(t, p.ledger, "team-a"), StoredBytesName, nil))

	// A deleted tenant leaves the gauge.
	require.NoError(t, widecolumn.DeleteTenant(ctx, table, "team-b"))
	require.NoError(t, sizer.Measure(ctx))
	require.Empty(t, usageOf(t, p.ledger, "team-b").Counters)
	n, err := testutil.GatherAndCount(reg, "hearth_usage_store_chunk_bytes")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

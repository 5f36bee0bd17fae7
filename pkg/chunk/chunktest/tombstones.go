package chunktest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
)

// testTombstones deletes a range of one series whose chunks cross chunk
// windows and buckets: Select leaves the range out as soon as the
// tombstone is written, from a store whose chunk cache was warm and from a
// cold one; ApplyTombstones rewrites the stored chunks (no deleted sample
// is left in any chunk row) and removes the tombstone; Select answers the
// same afterwards, from a warm cache too.
func testTombstones(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, func(o *chunk.Options) { o.ChunkWindow = time.Hour; o.BucketPeriod = 2 * time.Hour })
	doomed := labels.FromStrings("__name__", "m", "job", "a")
	kept := labels.FromStrings("__name__", "m", "job", "b")
	// Chunks of 150 minutes at 1/min: each crosses windows and buckets.
	var chunksA, chunksB []chunk.Chunk
	for k := range int64(3) {
		chunksA = append(chunksA, XORChunk(t, Base+k*150*60000, 150, 60000, uint64(k)))
		chunksB = append(chunksB, XORChunk(t, Base+k*150*60000, 150, 60000, uint64(k+10)))
	}
	_, err := s.WriteSeries(ctx, "t1", []chunk.SeriesChunks{{Labels: doomed, Chunks: chunksA}, {Labels: kept, Chunks: chunksB}})
	require.NoError(t, err)
	mint, maxt := Base, Base+8*hour
	name := MustMatcher(t, labels.MatchEqual, "__name__", "m")
	before, err := s.Select(ctx, "t1", mint, maxt, name)
	require.NoError(t, err)
	require.Len(t, before, 2)

	from, to := Base+100*60000, Base+200*60000 // Inside the first chunk and into the second.
	var wantA [][2]float64
	for _, x := range Samples(t, chunksA) {
		if int64(x[0]) < from || int64(x[0]) > to {
			wantA = append(wantA, x)
		}
	}
	wantB := Samples(t, chunksB)
	check := func(t *testing.T, st *chunk.Store) {
		t.Helper()
		got, err := st.Select(ctx, "t1", mint, maxt, name)
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, doomed, got[0].Labels)
		require.Equal(t, wantA, Samples(t, got[0].Chunks))
		require.Equal(t, wantB, Samples(t, got[1].Chunks))
		// A range wholly deleted returns no series.
		got, err = st.Select(ctx, "t1", from, to, MustMatcher(t, labels.MatchEqual, "job", "a"))
		require.NoError(t, err)
		require.Empty(t, got)
	}

	require.NoError(t, s.AddTombstone(ctx, "t1", chunk.Tombstone{Matchers: []*labels.Matcher{MustMatcher(t, labels.MatchEqual, "job", "a")}, Start: from, End: to}))
	ts, err := s.Tombstones(ctx, "t1")
	require.NoError(t, err)
	require.Len(t, ts, 1)
	t.Run("tombstone, warm cache", func(t *testing.T) { check(t, s) })
	cold, _ := NewStore(t, b, func(o *chunk.Options) { o.ChunkWindow = time.Hour; o.BucketPeriod = 2 * time.Hour })
	t.Run("tombstone, cold cache", func(t *testing.T) { check(t, cold) })
	// Another tenant's tombstone list is its own.
	ts, err = s.Tombstones(ctx, "t2")
	require.NoError(t, err)
	require.Empty(t, ts)

	// Not yet due: nothing applied.
	n, err := s.ApplyTombstones(ctx, "t1", 0)
	require.NoError(t, err)
	require.Zero(t, n)
	tenants, err := s.TombstoneTenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"t1"}, tenants)

	n, err = cold.ApplyTombstones(ctx, "t1", time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ts, err = s.Tombstones(ctx, "t1")
	require.NoError(t, err)
	require.Empty(t, ts)
	t.Run("applied, the warm cache of another store", func(t *testing.T) { check(t, s) })
	t.Run("applied, the store that applied", func(t *testing.T) { check(t, cold) })

	// With the tombstone gone, a store with an empty cache reads the
	// rewritten rows as they are: the deleted samples are gone from them.
	fresh, _ := NewStore(t, b, func(o *chunk.Options) { o.ChunkWindow = time.Hour; o.BucketPeriod = 2 * time.Hour })
	t.Run("applied, a fresh store", func(t *testing.T) { check(t, fresh) })
	// Applying again changes nothing.
	n, err = s.ApplyTombstones(ctx, "t1", time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	require.Zero(t, n)
	check(t, s)
}

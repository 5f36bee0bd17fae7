package chunk

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/tsdbutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
)

func FuzzDecodeTombstone(f *testing.F) {
	good, err := EncodeTombstone(Tombstone{Matchers: []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "job", "a"), labels.MustNewMatcher(labels.MatchRegexp, "i", "x.*"),
	}, Start: 1, End: 2, Created: 3})
	require.NoError(f, err)
	for _, s := range []string{string(good), "", "{}", `{"matchers":[["~~","a","b"]],"start":1,"end":2}`, `{"matchers":[["=~","a","("]],"start":1,"end":2}`, `{"matchers":[["=","a","b"]],"start":3,"end":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := DecodeTombstone(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		require.NotEmpty(t, ts.Matchers)
		require.LessOrEqual(t, ts.Start, ts.End)
		again, err := EncodeTombstone(ts)
		require.NoError(t, err)
		back, err := DecodeTombstone(again)
		require.NoError(t, err)
		require.Equal(t, ts.Start, back.Start)
		require.Equal(t, ts.End, back.End)
		require.Len(t, back.Matchers, len(ts.Matchers))
		for i := range ts.Matchers {
			require.Equal(t, ts.Matchers[i].String(), back.Matchers[i].String())
		}
	})
}

// TestDeleteSamples re-encodes float, histogram and float histogram
// chunks without the deleted samples.
func TestDeleteSamples(t *testing.T) {
	encode := func(enc chunkenc.Encoding, n int) Chunk {
		c, err := chunkenc.NewEmptyChunk(enc)
		require.NoError(t, err)
		app, err := c.Appender()
		require.NoError(t, err)
		for i := range n {
			ts := int64(i) * 1000
			switch enc {
			case chunkenc.EncXOR:
				app.Append(0, ts, float64(i))
			case chunkenc.EncHistogram:
				h := tsdbutil.GenerateTestHistogram(int64(i))
				h.CounterResetHint = histogram.NotCounterReset
				_, _, app, err = app.AppendHistogram(nil, 0, ts, h, true)
				require.NoError(t, err)
			case chunkenc.EncFloatHistogram:
				h := tsdbutil.GenerateTestFloatHistogram(int64(i))
				h.CounterResetHint = histogram.NotCounterReset
				_, _, app, err = app.AppendFloatHistogram(nil, 0, ts, h, true)
				require.NoError(t, err)
			}
		}
		return Chunk{MinTime: 0, MaxTime: int64(n-1) * 1000, Encoding: enc, Data: c.Bytes()}
	}
	times := func(cs []Chunk) []int64 {
		var out []int64
		for _, c := range cs {
			ch, err := c.Open()
			require.NoError(t, err)
			it := ch.Iterator(nil)
			for it.Next() != chunkenc.ValNone {
				out = append(out, it.AtT())
			}
			require.NoError(t, it.Err())
			require.Equal(t, out[len(out)-1], c.MaxTime)
		}
		return out
	}
	for _, enc := range []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		t.Run(enc.String(), func(t *testing.T) {
			c := encode(enc, 10)
			got, err := deleteSamples(c, []interval{{2000, 4000}, {8500, 20000}})
			require.NoError(t, err)
			require.Equal(t, []int64{0, 1000, 5000, 6000, 7000, 8000}, times(got))
			require.Equal(t, int64(0), got[0].MinTime)

			got, err = deleteSamples(c, []interval{{-5, 20000}})
			require.NoError(t, err)
			require.Empty(t, got)
			got, err = deleteSamples(c, []interval{{20000, 30000}})
			require.NoError(t, err)
			require.Equal(t, []Chunk{c}, got)
			got, err = deleteSamples(c, []interval{{0, 0}})
			require.NoError(t, err)
			require.Equal(t, int64(1000), got[0].MinTime)
		})
	}
}

// TestRewriteResumesAfterACrash logs a rewrite and stops before carrying it
// out, as a crash would: the next ApplyTombstones finishes it, and
// replaying an already applied log row changes nothing.
func TestRewriteResumesAfterACrash(t *testing.T) {
	ctx := context.Background()
	b := backendtest.NewPebble(t)
	s, err := New(b, DefaultOptions(), nil, prometheus.NewRegistry())
	require.NoError(t, err)
	base := int64(1609459200000)
	c := Chunk{MinTime: base, Encoding: chunkenc.EncXOR}
	xc := chunkenc.NewXORChunk()
	app, err := xc.Appender()
	require.NoError(t, err)
	for i := range int64(20) {
		app.Append(0, base+i*1000, float64(i))
		c.MaxTime = base + i*1000
	}
	c.Data = xc.Bytes()
	ls := labels.FromStrings("__name__", "m")
	_, err = s.WriteSeries(ctx, "t", []SeriesChunks{{Labels: ls, Chunks: []Chunk{c}}})
	require.NoError(t, err)
	require.NoError(t, s.AddTombstone(ctx, "t", Tombstone{Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")}, Start: base, End: base + 9000, Created: 1}))

	st, err := s.tombstones(ctx, "t")
	require.NoError(t, err)
	redo, err := s.planRewrites(ctx, "t", st.list)
	require.NoError(t, err)
	require.Len(t, redo, 1)
	require.NoError(t, s.apply(ctx, redo)) // Then the crash.

	n, err := s.ApplyTombstones(ctx, "t", 2)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, s.apply(ctx, redo)) // A log row replayed twice.
	require.NoError(t, s.replayRedo(ctx, "t"))
	got, err := s.Select(ctx, "t", base, base+time20s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, got[0].Chunks, 1)
	require.Equal(t, base+10000, got[0].Chunks[0].MinTime)
}

const time20s = 20000

// TestTombstoneCache: Select keeps a tenant's tombstones for
// TombstoneCacheTTL. A deletion through the same Store is honoured by its
// next Select; one through another Store on the backend once the TTL has
// passed since the reader's last read, and SettleTombstones waits that out
// on the writer's side; with a TTL of 0 it is honoured at once.
func TestTombstoneCache(t *testing.T) {
	const ttl = 5 * time.Second
	ls := labels.FromStrings("__name__", "m")
	name := labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")
	base := int64(1609459200000)
	tomb := Tombstone{Matchers: []*labels.Matcher{name}, Start: base, End: base + time20s, Created: 1}
	tests := map[string]struct {
		ttl         time.Duration
		sameStore   bool
		elapsed     time.Duration // on the reader's clock, after the deletion
		wantVisible bool
	}{
		"same store, at once":                  {ttl: ttl, sameStore: true},
		"other store, within the TTL":          {ttl: ttl, elapsed: ttl - time.Millisecond, wantVisible: true},
		"other store, once the TTL has passed": {ttl: ttl, elapsed: ttl},
		"other store, no cache":                {ttl: 0},
		"same store, no cache":                 {ttl: 0, sameStore: true},
		"other store, long after the TTL":      {ttl: ttl, elapsed: time.Hour},
	}
	for caseName, tc := range tests {
		t.Run(caseName, func(t *testing.T) {
			ctx := context.Background()
			b := backendtest.NewPebble(t)
			opts := DefaultOptions()
			opts.TombstoneCacheTTL = tc.ttl
			newStore := func() (*Store, *time.Time) {
				s, err := New(b, opts, nil, prometheus.NewRegistry())
				require.NoError(t, err)
				now := time.Unix(1700000000, 0)
				s.now = func() time.Time { return now }
				return s, &now
			}
			writer, _ := newStore()
			reader, readerNow := writer, (*time.Time)(nil)
			if !tc.sameStore {
				reader, readerNow = newStore()
			}
			c := Chunk{MinTime: base, MaxTime: base + time20s, Encoding: chunkenc.EncXOR}
			xc := chunkenc.NewXORChunk()
			app, err := xc.Appender()
			require.NoError(t, err)
			for i := range int64(21) {
				app.Append(0, base+i*1000, float64(i))
			}
			c.Data = xc.Bytes()
			_, err = writer.WriteSeries(ctx, "t", []SeriesChunks{{Labels: ls, Chunks: []Chunk{c}}})
			require.NoError(t, err)
			got, err := reader.Select(ctx, "t", base, base+time20s, name)
			require.NoError(t, err)
			require.Len(t, got, 1, "read before the deletion, and cached")

			require.NoError(t, writer.AddTombstone(ctx, "t", tomb))
			if readerNow != nil {
				*readerNow = readerNow.Add(tc.elapsed)
			}
			got, err = reader.Select(ctx, "t", base, base+time20s, name)
			require.NoError(t, err)
			if tc.wantVisible {
				require.Len(t, got, 1)
			} else {
				require.Empty(t, got)
			}
			// Another tenant's entry is its own.
			got, err = reader.Select(ctx, "u", base, base+time20s, name)
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

// TestSettleTombstones: SettleTombstones returns once the TTL has passed
// since the Store's last AddTombstone, at once when it has, and with the
// context's error when that ends first.
func TestSettleTombstones(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		opts := DefaultOptions()
		s, err := New(backendtest.NewPebble(t), opts, nil, prometheus.NewRegistry())
		require.NoError(t, err)
		require.NoError(t, s.SettleTombstones(ctx), "nothing written: no wait")
		start := time.Now()
		require.NoError(t, s.AddTombstone(ctx, "t", Tombstone{Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "a", "b")}, Start: 1, End: 2}))
		require.NoError(t, s.SettleTombstones(ctx))
		require.Equal(t, opts.TombstoneCacheTTL, time.Since(start))
		require.NoError(t, s.SettleTombstones(ctx), "settled: no wait")
		require.Equal(t, opts.TombstoneCacheTTL, time.Since(start))

		require.NoError(t, s.AddTombstone(ctx, "t", Tombstone{Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "a", "c")}, Start: 1, End: 2}))
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		require.ErrorIs(t, s.SettleTombstones(cctx), context.DeadlineExceeded)
	})
}

// TestTombstoneCacheForgetsIdleTenants: entries of tenants not read within
// the TTL are dropped, so the cache holds the tenants of the last TTL or
// two, not every tenant ever queried.
func TestTombstoneCacheForgetsIdleTenants(t *testing.T) {
	const ttl = 5 * time.Second
	var c tombstoneCache
	now := time.Unix(1700000000, 0)
	for i := range 100 {
		c.put(fmt.Sprintf("tenant-%d", i), tombstoneState{}, now, c.begin(), ttl)
	}
	require.Len(t, c.entries, 100)
	_, ok := c.get("tenant-1", now.Add(ttl-time.Millisecond), ttl)
	require.True(t, ok)
	_, ok = c.get("tenant-1", now.Add(ttl), ttl)
	require.False(t, ok, "expired")
	now = now.Add(2 * ttl)
	c.put("fresh", tombstoneState{}, now, c.begin(), ttl)
	require.Len(t, c.entries, 1)
	// A read that overlapped a forget is not kept.
	forgets := c.begin()
	c.forget("late", now)
	c.put("late", tombstoneState{}, now, forgets, ttl)
	_, ok = c.get("late", now, ttl)
	require.False(t, ok)
}

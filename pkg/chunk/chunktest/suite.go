package chunktest

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

// Run runs the store's suite against fresh backends from newBackend. The
// backend contract itself is package widecolumntest's.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("round trip and idempotence", func(t *testing.T) { testRoundTrip(t, newBackend(t)) })
	t.Run("replica dedupe", func(t *testing.T) { testReplicas(t, newBackend(t)) })
	t.Run("matchers", func(t *testing.T) { testMatchers(t, newBackend(t)) })
	t.Run("labels and time ranges", func(t *testing.T) { testLabelsAndRanges(t, newBackend(t)) })
	t.Run("query shards", func(t *testing.T) { testQueryShards(t, newBackend(t)) })
	t.Run("tombstones", func(t *testing.T) { testTombstones(t, newBackend(t)) })
	t.Run("tenants, caches and deletion", func(t *testing.T) { testTenants(t, newBackend(t)) })
	t.Run("retention", func(t *testing.T) { testRetention(t, newBackend(t)) })
	t.Run("tenant listing", func(t *testing.T) { testTenantListing(t, newBackend(t)) })
	t.Run("key limits", func(t *testing.T) { testKeyLimits(t, newBackend(t)) })
	t.Run("bytes per sample", func(t *testing.T) { testBytesPerSample(t, newBackend(t)) })
}

func requireSeries(t *testing.T, want []chunk.SeriesChunks, got []chunk.Series) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Labels.String(), got[i].Labels.String())
		require.Equal(t, Samples(t, want[i].Chunks), Samples(t, got[i].Chunks))
	}
}

func testRoundTrip(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, reg := NewStore(t, b, nil)
	batch := []chunk.SeriesChunks{
		{Labels: labels.FromStrings("__name__", "up", "job", "api"), Chunks: []chunk.Chunk{
			XORChunk(t, Base, 120, 15000, 1), XORChunk(t, Base+30*60000, 120, 15000, 2),
		}},
		{Labels: labels.FromStrings("__name__", "up", "job", "db"), Chunks: []chunk.Chunk{XORChunk(t, Base, 120, 15000, 3)}},
	}
	st, err := s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)
	require.Equal(t, 2, st.Series)
	require.Positive(t, st.Mutations)
	rows, cells, bytes := Count(t, b)
	require.Equal(t, st.Rows, rows)
	require.Equal(t, st.Mutations, cells)
	require.Equal(t, st.Bytes, bytes)
	require.InDelta(t, float64(st.Mutations), MetricValue(t, reg, "hearth_chunk_written_mutations_total"), 0)

	got, err := s.Select(ctx, "t1", Base, Base+2*hour, MustMatcher(t, labels.MatchEqual, "__name__", "up"))
	require.NoError(t, err)
	requireSeries(t, batch, got)

	// Re-flushing the same block, from this store (dedupe cache warm) or a
	// fresh one (cold), changes nothing.
	s2, _ := NewStore(t, b, nil)
	for _, w := range []*chunk.Store{s, s2} {
		_, err := w.WriteSeries(ctx, "t1", batch)
		require.NoError(t, err)
		r2, c2, b2 := Count(t, b)
		require.Equal(t, [3]int{rows, cells, bytes}, [3]int{r2, c2, b2})
	}
	st, err = s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)
	require.Equal(t, 2, st.SkippedIndex, "known series skip their index rows")

	// A range ending before the second chunk returns only the first.
	got, err = s.Select(ctx, "t1", Base, Base+10*60000, MustMatcher(t, labels.MatchEqual, "job", "api"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, got[0].Chunks, 1)

	_, err = s.WriteSeries(ctx, "", batch)
	require.ErrorIs(t, err, chunk.ErrInvalidTenant)
	_, err = s.WriteSeries(ctx, "t1", []chunk.SeriesChunks{{Labels: labels.FromStrings("a", "b"), Chunks: []chunk.Chunk{{MinTime: 5, MaxTime: 4, Data: []byte{1}}}}})
	require.ErrorIs(t, err, chunk.ErrInvalidChunk)
}

func testReplicas(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	ls := labels.FromStrings("__name__", "up", "job", "api")
	same := []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base, 120, 15000, 1)}}}
	var counts [][3]int
	// Three ingesters (three stores, each with its own caches) flush the
	// same block: the store holds what one of them wrote.
	for range 3 {
		s, _ := NewStore(t, b, nil)
		_, err := s.WriteSeries(ctx, "t1", same)
		require.NoError(t, err)
		rows, cells, bytes := Count(t, b)
		counts = append(counts, [3]int{rows, cells, bytes})
	}
	require.Equal(t, counts[0], counts[1])
	require.Equal(t, counts[0], counts[2])
	one, _ := NewStore(t, b, nil)
	got, err := one.Select(ctx, "t1", Base, Base+hour, MustMatcher(t, labels.MatchEqual, "job", "api"))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Len(t, got[0].Chunks, 1, "three identical replica chunks are one cell")

	// A replica that missed samples writes a different chunk: both kept,
	// both returned.
	short := []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base, 100, 15000, 1)}}}
	_, err = one.WriteSeries(ctx, "t1", short)
	require.NoError(t, err)
	rows, cells, _ := Count(t, b)
	require.Equal(t, counts[0][0], rows)
	require.Equal(t, counts[0][1]+1, cells)
	got, err = one.Select(ctx, "t1", Base, Base+hour, MustMatcher(t, labels.MatchEqual, "job", "api"))
	require.NoError(t, err)
	require.Len(t, got[0].Chunks, 2)
}

func testMatchers(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	// A small block size in the key parts so the hashed path is exercised.
	s, reg := NewStore(t, b, func(o *chunk.Options) { o.MaxRawKeyPart = 64 })
	long := strings.Repeat("a", 100) + "z"
	sets := []labels.Labels{
		labels.FromStrings("__name__", "up", "job", "api", "instance", "a:1"),
		labels.FromStrings("__name__", "up", "job", "api", "instance", "b:2"),
		labels.FromStrings("__name__", "up", "job", "db", "instance", "c:3"),
		labels.FromStrings("__name__", "http_requests_total", "job", "api", "path", "/x y", "code", "200"),
		labels.FromStrings("__name__", "http_requests_total", "job", "api", "path", "/ünïcode", "code", "500"),
		labels.FromStrings("__name__", "weird", "label with space", "v\x00\xff\n"),
		labels.FromStrings("__name__", "long", "job", "api", "blob", long),
		labels.FromStrings("job", "api", "nometric", "1"),
		labels.FromStrings("__name__", "UP", "job", "apiary"),
	}
	var batch []chunk.SeriesChunks
	for i, ls := range sets {
		batch = append(batch, chunk.SeriesChunks{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base+int64(i)*60000, 60, 15000, uint64(i))}})
	}
	_, err := s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)

	m := func(mt labels.MatchType, n, v string) *labels.Matcher { return MustMatcher(t, mt, n, v) }
	cases := map[string]struct {
		matchers []*labels.Matcher
		pushdown bool
	}{
		"metric name":                           {matchers: []*labels.Matcher{m(labels.MatchEqual, "__name__", "up")}},
		"no metric name":                        {matchers: []*labels.Matcher{m(labels.MatchEqual, "job", "api")}},
		"any metric name":                       {matchers: []*labels.Matcher{m(labels.MatchRegexp, "__name__", ".+")}, pushdown: true},
		"set regex":                             {matchers: []*labels.Matcher{m(labels.MatchRegexp, "__name__", "up|weird")}},
		"regex pushed down":                     {matchers: []*labels.Matcher{m(labels.MatchRegexp, "job", "a.*")}, pushdown: true},
		"regex on non-ASCII values":             {matchers: []*labels.Matcher{m(labels.MatchRegexp, "path", "/ü.*")}, pushdown: true},
		"regex on a hashed value":               {matchers: []*labels.Matcher{m(labels.MatchRegexp, "blob", "a+z")}, pushdown: true},
		"equality on a hashed value":            {matchers: []*labels.Matcher{m(labels.MatchEqual, "blob", long)}},
		"not equal filters after":               {matchers: []*labels.Matcher{m(labels.MatchEqual, "__name__", "up"), m(labels.MatchNotEqual, "instance", "a:1")}},
		"negative regex filters after":          {matchers: []*labels.Matcher{m(labels.MatchEqual, "__name__", "up"), m(labels.MatchNotRegexp, "instance", "a.*|c.*")}},
		"absent label":                          {matchers: []*labels.Matcher{m(labels.MatchEqual, "job", "api"), m(labels.MatchEqual, "code", "")}},
		"anchored regex is not pushed":          {matchers: []*labels.Matcher{m(labels.MatchRegexp, "job", "^api$")}},
		"only empty-matching matchers":          {matchers: []*labels.Matcher{m(labels.MatchEqual, "foo", "")}},
		"no matchers":                           {},
		"case-insensitive regex":                {matchers: []*labels.Matcher{m(labels.MatchRegexp, "__name__", "(?i)UP")}, pushdown: true},
		"label name and value with any bytes":   {matchers: []*labels.Matcher{m(labels.MatchEqual, "label with space", "v\x00\xff\n")}},
		"label present":                         {matchers: []*labels.Matcher{m(labels.MatchNotEqual, "code", "")}},
		"nothing matches":                       {matchers: []*labels.Matcher{m(labels.MatchEqual, "job", "nope")}},
		"regex matching a suffix is not enough": {matchers: []*labels.Matcher{m(labels.MatchRegexp, "job", "pi.*")}, pushdown: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want []chunk.SeriesChunks
			for _, sc := range batch {
				ok := true
				for _, mm := range tc.matchers {
					ok = ok && mm.Matches(sc.Labels.Get(mm.Name))
				}
				if ok {
					want = append(want, sc)
				}
			}
			slicesSortByLabels(want)
			before := MetricValue(t, reg, "hearth_chunk_regex_pushdowns_total")
			got, err := s.Select(ctx, "t1", Base, Base+hour, tc.matchers...)
			require.NoError(t, err)
			requireSeries(t, want, got)
			pushed := MetricValue(t, reg, "hearth_chunk_regex_pushdowns_total") > before
			require.Equal(t, tc.pushdown, pushed)
		})
	}
	t.Run("label values of a hashed value", func(t *testing.T) {
		vs, err := s.LabelValues(ctx, "t1", "blob", Base, Base+hour)
		require.NoError(t, err)
		require.Equal(t, []string{long}, vs)
	})
}

func slicesSortByLabels(s []chunk.SeriesChunks) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && labels.Compare(s[j].Labels, s[j-1].Labels) < 0; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func testLabelsAndRanges(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, nil)
	d0, d1, d2 := Base, Base+day, Base+2*day
	spanning := labels.FromStrings("__name__", "span", "job", "api")
	batch := []chunk.SeriesChunks{
		{Labels: labels.FromStrings("__name__", "first", "only_day0", "x"), Chunks: []chunk.Chunk{XORChunk(t, d0+hour, 10, 15000, 1)}},
		{Labels: labels.FromStrings("__name__", "third", "only_day2", "y"), Chunks: []chunk.Chunk{XORChunk(t, d2+hour, 10, 15000, 2)}},
		{Labels: spanning, Chunks: []chunk.Chunk{
			XORChunk(t, d0+23*hour, 120, 15000, 3),    // day 0, 23:00-23:30
			XORChunk(t, d1-10*60000, 120, 15000, 4),   // 23:50 → 00:20 across the bucket boundary
			XORChunk(t, d1+12*hour, 120, 15000, 5),    // day 1
			XORChunk(t, d2+30*60000, 120, 15000, 6),   // day 2
			XORChunk(t, d0+100*60000, 2000, 15000, 7), // 01:40, 8h20m: spans five chunk windows
		}},
	}
	_, err := s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)

	names := func(mint, maxt int64, ms ...*labels.Matcher) []string {
		got, err := s.LabelNames(ctx, "t1", mint, maxt, ms...)
		require.NoError(t, err)
		return got
	}
	metricNames := func(mint, maxt int64, ms ...*labels.Matcher) []string {
		got, err := s.LabelValues(ctx, "t1", "__name__", mint, maxt, ms...)
		require.NoError(t, err)
		return got
	}
	require.Equal(t, []string{"__name__", "job", "only_day0"}, names(d0, d0+hour))
	require.Equal(t, []string{"__name__", "job"}, names(d1, d1+hour))
	require.Equal(t, []string{"__name__", "job", "only_day0", "only_day2"}, names(d0, d2))
	require.Equal(t, []string{"__name__", "only_day2"}, names(d0, d2, MustMatcher(t, labels.MatchEqual, "__name__", "third")))
	require.Equal(t, []string{"first", "span"}, metricNames(d0, d0+hour))
	require.Equal(t, []string{"span"}, metricNames(d1, d1+hour))
	require.Equal(t, []string{"first", "span", "third"}, metricNames(math.MinInt64, math.MaxInt64))
	require.Equal(t, []string{"span"}, metricNames(d0, d2, MustMatcher(t, labels.MatchEqual, "job", "api")))
	require.Empty(t, metricNames(d2+day, d2+2*day))

	sel := func(mint, maxt int64) []chunk.Series {
		got, err := s.Select(ctx, "t1", mint, maxt, MustMatcher(t, labels.MatchEqual, "job", "api"))
		require.NoError(t, err)
		return got
	}
	all := sel(d0, d2+day)
	require.Len(t, all, 1, "buckets of one series merge into one")
	require.Len(t, all[0].Chunks, 5, "a chunk in several windows or buckets is returned once")
	require.Equal(t, sortedSamples(Samples(t, batch[2].Chunks)), sortedSamples(Samples(t, all[0].Chunks)))
	// Only the chunk across the boundary overlaps [d1, d1+10m].
	got := sel(d1, d1+10*60000)
	require.Len(t, got, 1)
	require.Len(t, got[0].Chunks, 1)
	require.Equal(t, d1-10*60000, got[0].Chunks[0].MinTime)
	// The long chunk is found from a window it does not start in.
	got = sel(d0+9*hour, d0+9*hour+1)
	require.Len(t, got, 1)
	require.Equal(t, d0+100*60000, got[0].Chunks[0].MinTime)
	require.Empty(t, sel(d0+12*hour, d0+13*hour))
}

func sortedSamples(s [][2]float64) [][2]float64 {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j][0] < s[j-1][0]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func testTenants(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, reg := NewStore(t, b, nil)
	ls := labels.FromStrings("__name__", "up", "job", "api")
	data := map[string][]chunk.SeriesChunks{
		"a":  {{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base, 120, 15000, 1)}}},
		"ab": {{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base, 120, 15000, 2)}}},
	}
	for tenant, batch := range data {
		_, err := s.WriteSeries(ctx, tenant, batch)
		require.NoError(t, err)
	}
	up := MustMatcher(t, labels.MatchEqual, "__name__", "up")
	check := func(tenant string, want []chunk.SeriesChunks) {
		t.Helper()
		for range 2 { // the second read comes from the caches
			got, err := s.Select(ctx, tenant, Base, Base+hour, up)
			require.NoError(t, err)
			requireSeries(t, want, got)
			vs, err := s.LabelValues(ctx, tenant, "job", Base, Base+hour)
			require.NoError(t, err)
			if len(want) == 0 {
				require.Empty(t, vs)
			} else {
				require.Equal(t, []string{"api"}, vs)
			}
		}
	}
	check("a", data["a"])
	check("ab", data["ab"])
	require.Positive(t, MetricValue(t, reg, "hearth_chunk_cache_hits_total"))

	// Recent buckets are never cached.
	now := time.Now().UnixMilli()
	recent := []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, now-hour, 10, 15000, 3)}}}
	_, err := s.WriteSeries(ctx, "recent", recent)
	require.NoError(t, err)
	entries := MetricValue(t, reg, "hearth_chunk_cache_entries")
	for range 2 {
		got, err := s.Select(ctx, "recent", now-2*hour, now, up)
		require.NoError(t, err)
		requireSeries(t, recent, got)
	}
	require.InDelta(t, entries, MetricValue(t, reg, "hearth_chunk_cache_entries"), 0)

	require.NoError(t, s.DeleteTenant(ctx, "a"))
	check("a", nil)
	check("ab", data["ab"])
	for _, r := range Dump(t, b) {
		tenant, _ := KeyTenantBucket(t, r.Key)
		require.NotEqual(t, "a", tenant)
	}
	// Writing the tenant again after deletion indexes it again (the
	// write-dedupe cache was purged).
	_, err = s.WriteSeries(ctx, "a", data["a"])
	require.NoError(t, err)
	check("a", data["a"])
}

func testRetention(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, nil)
	ls := labels.FromStrings("__name__", "up")
	for _, tenant := range []string{"t1", "t2"} {
		for d := range int64(5) {
			_, err := s.WriteSeries(ctx, tenant, []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base+d*day+hour, 10, 15000, uint64(d))}}})
			require.NoError(t, err)
		}
	}
	up := MustMatcher(t, labels.MatchEqual, "__name__", "up")
	got, err := s.Select(ctx, "t1", Base, Base+5*day, up)
	require.NoError(t, err)
	require.Len(t, got[0].Chunks, 5)

	// t in the middle of day 3: days 0-2 end before it and go; day 3 stays.
	require.NoError(t, s.DeleteBucketsBefore(ctx, "t1", Base+3*day+12*hour))
	buckets := map[string]map[uint32]bool{}
	for _, r := range Dump(t, b) {
		tenant, bucket := KeyTenantBucket(t, r.Key)
		if buckets[tenant] == nil {
			buckets[tenant] = map[uint32]bool{}
		}
		buckets[tenant][bucket] = true
	}
	first := uint32(Base / day)
	require.Equal(t, map[uint32]bool{first + 3: true, first + 4: true}, buckets["t1"])
	require.Len(t, buckets["t2"], 5)
	got, err = s.Select(ctx, "t1", Base, Base+5*day, up)
	require.NoError(t, err)
	require.Len(t, got[0].Chunks, 2)
	require.NoError(t, s.DeleteBucketsBefore(ctx, "t1", Base))
	require.NoError(t, s.DeleteBucketsBefore(ctx, "nobody", Base+10*day))
}

func testKeyLimits(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, func(o *chunk.Options) { o.MaxRawKeyPart = 8192 })
	ls := labels.FromStrings("__name__", "big", "v", strings.Repeat("x", 5000))
	_, err := s.WriteSeries(ctx, "t1", []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base, 10, 15000, 1)}}})
	require.ErrorIs(t, err, chunk.ErrKeyTooLong)
	require.ErrorContains(t, err, `big`)
	_, _, n := Count(t, b)
	require.Zero(t, n, "nothing written")
}

// testBytesPerSample writes 1,000 series × 2h at 15s in XOR chunks of 120
// samples and reports the stored bytes per sample, index included.
func testBytesPerSample(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, nil)
	const nSeries, perChunk, chunks = 1000, 120, 4
	batch := make([]chunk.SeriesChunks, 0, nSeries)
	for i := range nSeries {
		ls := labels.FromStrings(
			"__name__", fmt.Sprintf("metric_%d", i%20),
			"instance", fmt.Sprintf("host-%04d.example.com:9100", i),
			"job", "node", "region", "eu-west-1",
		)
		sc := chunk.SeriesChunks{Labels: ls}
		for c := range chunks {
			sc.Chunks = append(sc.Chunks, XORChunk(t, Base+int64(c)*perChunk*15000, perChunk, 15000, uint64(i*chunks+c)))
		}
		batch = append(batch, sc)
	}
	st, err := s.WriteSeries(ctx, "t1", batch)
	require.NoError(t, err)
	_, cells, bytes := Count(t, b)
	samples := nSeries * perChunk * chunks
	chunkBytes := 0
	for _, sc := range batch {
		for _, c := range sc.Chunks {
			chunkBytes += len(c.Data)
		}
	}
	bps := float64(bytes) / float64(samples)
	t.Logf("%d series, %d samples: %d rows, %d cells, %d bytes stored (%.2f B/sample; chunk data alone %.2f B/sample); %.2f mutations per series per window",
		nSeries, samples, st.Rows, cells, bytes, bps, float64(chunkBytes)/float64(samples), float64(st.Mutations)/nSeries)
	require.Less(t, bps, 3.0)
	require.Equal(t, st.Mutations, cells)
	// The four chunks of a series' window are merged into one cell: one
	// chunk, one series and four postings cells per series, and the four
	// names of the label-names row.
	require.Equal(t, nSeries*(1+1+4)+4, cells)
}

func testTenantListing(t *testing.T, b chunk.Backend) {
	ctx := context.Background()
	s, _ := NewStore(t, b, nil)
	got, err := s.Tenants(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	// Tenants that are prefixes of each other, a non-ASCII byte, and a
	// long one (two-byte length prefix) to cross the key order.
	long := strings.Repeat("z", 200)
	tenants := []string{"b", "ab", "a", "aé", long}
	ls := labels.FromStrings("__name__", "up")
	for k, tenant := range tenants {
		// Several buckets per tenant: listed once each.
		for d := range int64(3) {
			_, err := s.WriteSeries(ctx, tenant, []chunk.SeriesChunks{{Labels: ls, Chunks: []chunk.Chunk{XORChunk(t, Base+d*day, 10, 15000, uint64(k))}}})
			require.NoError(t, err)
		}
	}
	// Rows of the other namespaces (API keys, rules, ...) are not listed,
	// and survive the chunk store's own tenant deletion.
	var others []widecolumn.RowMutation
	for _, m := range widecolumntest.TenantRows("other") {
		if !widecolumn.Chunks.Contains(m.Key) {
			others = append(others, m)
		}
	}
	before := len(Dump(t, b))
	require.NoError(t, b.Apply(ctx, others))
	require.NoError(t, s.DeleteTenant(ctx, "other"))
	require.Len(t, Dump(t, b), before+len(others))
	got, err = s.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "ab", "aé", "b", long}, got)

	require.NoError(t, s.DeleteTenant(ctx, "ab"))
	require.NoError(t, s.DeleteBucketsBefore(ctx, "b", Base+10*day))
	got, err = s.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "aé", long}, got)
}

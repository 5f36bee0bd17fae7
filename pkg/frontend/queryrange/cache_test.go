package queryrange

import (
	"context"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/frontend/resultscache"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestCacheKeysNeverShared(t *testing.T) {
	r := &Request{Query: "sum(up)", Start: 0, End: 3600_000, Step: 60_000}
	keys := map[string]string{
		"a":                 cacheKey("a", []uint64{0}, r, 0),
		"b":                 cacheKey("b", []uint64{0}, r, 0),
		"a|b":               cacheKey("a|b", []uint64{0, 0}, r, 0),
		"ab":                cacheKey("ab", []uint64{0}, r, 0),
		"a, generation 1":   cacheKey("a", []uint64{1}, r, 0),
		"a, step 30s":       cacheKey("a", []uint64{0}, &Request{Query: r.Query, Start: r.Start, End: r.End, Step: 30_000}, 0),
		"a, offset 1s":      cacheKey("a", []uint64{0}, &Request{Query: r.Query, Start: 1000, End: r.End, Step: r.Step}, 0),
		"a, split 1h":       cacheKey("a", []uint64{0}, r, 3600_000),
		"a, other query":    cacheKey("a", []uint64{0}, &Request{Query: "sum(up) ", Start: r.Start, End: r.End, Step: r.Step}, 0),
		"a, next day split": cacheKey("a", []uint64{0}, &Request{Query: r.Query, Start: 86400_000, End: 86400_000 + 3600_000, Step: r.Step}, 86400_000),
	}
	seen := map[string]string{}
	for name, k := range keys {
		other, dup := seen[k]
		require.False(t, dup, "%s and %s share a key", name, other)
		seen[k] = name
		require.Len(t, hashKey(k), 67)
	}
	// The same day keeps one key whatever the range within it.
	require.Equal(t,
		cacheKey("a", []uint64{0}, &Request{Query: "q", Start: 0, End: 60_000, Step: 60_000}, 86400_000),
		cacheKey("a", []uint64{0}, &Request{Query: "q", Start: 3600_000, End: 7200_000, Step: 60_000}, 86400_000))
}

// TestTenantsNeverShareEntries runs one query for tenants whose data differ,
// with one cache and the hash of every key forced equal: each answer is
// its own tenant's, never another's.
func TestTenantsNeverShareEntries(t *testing.T) {
	cache := &oneSlotCache{}
	e := newTestEnv(t, testEnvOpts{cache: cache, cfg: func(c *Config) { c.QuerySharding = false }})
	form := rangeForm("sum(rate(requests_total[5m]))", 0, 5*time.Hour, time.Minute)
	for range 2 {
		for _, id := range []tenant.ID{"a", "b", "a|b"} {
			_, want := e.direct(id, "/api/v1/query_range", form)
			status, got := e.do(id, "/api/v1/query_range", form, nil)
			require.Equal(t, http.StatusOK, status)
			requireSameResult(t, want, got, false)
		}
	}
	cache.mu.Lock()
	defer cache.mu.Unlock()
	require.Positive(t, cache.stores)
}

// oneSlotCache stores every key in the same slot, as if every hash
// collided.
type oneSlotCache struct {
	mu     sync.Mutex
	value  []byte
	stores int
}

func (c *oneSlotCache) Fetch(_ context.Context, keys []string) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]byte{}
	if c.value != nil {
		for _, k := range keys {
			out[k] = c.value
		}
	}
	return out
}

func (c *oneSlotCache) Store(_ context.Context, _ string, v []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.value, c.stores = v, c.stores+1
}

var _ resultscache.Cache = (*oneSlotCache)(nil)

func TestMissingRanges(t *testing.T) {
	ext := func(s, e int64) *extent { return &extent{Start: s, End: e} }
	for name, tc := range map[string]struct {
		extents          []*extent
		start, end, step int64
		want             [][2]int64
	}{
		"empty":            {start: 0, end: 100, step: 10, want: [][2]int64{{0, 100}}},
		"covered":          {extents: []*extent{ext(0, 200)}, start: 10, end: 100, step: 10},
		"head missing":     {extents: []*extent{ext(50, 200)}, start: 0, end: 100, step: 10, want: [][2]int64{{0, 40}}},
		"tail missing":     {extents: []*extent{ext(0, 50)}, start: 0, end: 100, step: 10, want: [][2]int64{{60, 100}}},
		"hole":             {extents: []*extent{ext(0, 30), ext(70, 100)}, start: 0, end: 100, step: 10, want: [][2]int64{{40, 60}}},
		"before and after": {extents: []*extent{ext(-100, -50), ext(500, 600)}, start: 0, end: 100, step: 10, want: [][2]int64{{0, 100}}},
		"one point":        {extents: []*extent{ext(0, 30)}, start: 40, end: 40, step: 10, want: [][2]int64{{40, 40}}},
		"offset grid":      {extents: []*extent{ext(5, 35)}, start: 5, end: 95, step: 10, want: [][2]int64{{45, 95}}},
	} {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, missingRanges(tc.extents, tc.start, tc.end, tc.step))
		})
	}
}

func TestMergeExtents(t *testing.T) {
	series := func(ts ...int64) []*model.SampleStream {
		s := &model.SampleStream{Metric: model.Metric{"a": "b"}}
		for _, t := range ts {
			s.Values = append(s.Values, model.SamplePair{Timestamp: model.Time(t), Value: model.SampleValue(t)})
		}
		return []*model.SampleStream{s}
	}
	got := mergeExtents([]*extent{
		{Start: 30, End: 40, Matrix: series(30, 40), Infos: []string{"i"}},
		{Start: 0, End: 20, Matrix: series(0, 10, 20)},
		{Start: 60, End: 70, Matrix: series(60, 70)},
	}, 10)
	require.Len(t, got, 2)
	require.Equal(t, int64(0), got[0].Start)
	require.Equal(t, int64(40), got[0].End)
	require.Equal(t, []string{"i"}, got[0].Infos)
	require.Len(t, got[0].Matrix[0].Values, 5)
	require.Equal(t, int64(60), got[1].Start)
}

func TestSplitByInterval(t *testing.T) {
	const h = int64(3600_000)
	for name, tc := range map[string]struct {
		start, end, step int64
		want             [][2]int64
	}{
		"one interval":   {start: 0, end: h - 60_000, step: 60_000, want: [][2]int64{{0, h - 60_000}}},
		"two intervals":  {start: 0, end: h, step: 60_000, want: [][2]int64{{0, h - 60_000}, {h, h}}},
		"unaligned grid": {start: 30_000, end: 2*h + 30_000, step: 7 * 60_000, want: [][2]int64{{30_000, 3390_000}, {3810_000, 7170_000}}},
		"step larger":    {start: 0, end: 4 * h, step: 3 * h, want: [][2]int64{{0, 0}, {3 * h, 3 * h}}},
		"negative":       {start: -h, end: h, step: h, want: [][2]int64{{-h, -h}, {0, 0}, {h, h}}},
	} {
		t.Run(name, func(t *testing.T) {
			var got [][2]int64
			for _, p := range splitByInterval(&Request{Start: tc.start, End: tc.end, Step: tc.step}, h) {
				got = append(got, [2]int64{p.Start, p.End})
				require.Zero(t, (p.Start-tc.start)%tc.step, "on the grid")
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	good, err := encodeEntry(&cacheEntry{Key: "k", Extents: []*extent{{Start: 1, End: 2, Matrix: []*model.SampleStream{{Metric: model.Metric{"a": "b"}, Values: []model.SamplePair{{Timestamp: 1, Value: 1}}}}}}})
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\x05\x10null"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := decodeEntry(raw)
		if err != nil {
			return
		}
		again, err := encodeEntry(e)
		require.NoError(t, err)
		_, err = decodeEntry(again)
		require.NoError(t, err)
		_ = missingRanges(e.Extents, 0, 100, 10)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":"b"},"values":[[1,"1"]],"histograms":[[2,{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]]}]},"infos":["i"]}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[null]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeResponseBody(body)
		if err != nil {
			return
		}
		if r.ResultType == typeMatrix {
			_ = mergeMatrices([]*Response{r, r})
		}
		if r.ResultType == typeScalar || r.ResultType == typeString {
			return
		}
		if _, err := r.encode(); err != nil {
			t.Fatalf("encoding a decoded response: %v", err)
		}
	})
}

// TestEntryRoundTrip: an entry comes back from its encoding as it went in,
// floats bit for bit (NaN, stale markers and -0 included: gob alone would
// drop a -0 field as zero), a series without
// labels with an empty (not nil) metric, and native histograms whole.
func TestEntryRoundTrip(t *testing.T) {
	stale := model.SampleValue(math.Float64frombits(0x7ff0000000000002))
	in := &cacheEntry{Key: "k", Extents: []*extent{{
		Start: 0, End: 120_000, Infos: []string{"PromQL info: x"},
		Matrix: []*model.SampleStream{
			{Metric: model.Metric{}, Values: []model.SamplePair{{Timestamp: 0, Value: 1.5}, {Timestamp: 60_000, Value: model.SampleValue(math.NaN())}, {Timestamp: 120_000, Value: stale}, {Timestamp: 180_000, Value: model.SampleValue(math.Copysign(0, -1))}}},
			{Metric: model.Metric{"job": "a"}, Histograms: []model.SampleHistogramPair{{Timestamp: 60_000, Histogram: &model.SampleHistogram{Count: 3, Sum: 2.5, Buckets: model.HistogramBuckets{{Boundaries: 3, Lower: -1, Upper: 1, Count: 3}}}}}},
		},
	}}}
	raw, err := encodeEntry(in)
	require.NoError(t, err)
	out, err := decodeEntry(raw)
	require.NoError(t, err)
	require.Equal(t, model.Metric{}, out.Extents[0].Matrix[0].Metric)
	for i, p := range in.Extents[0].Matrix[0].Values {
		require.Equal(t, math.Float64bits(float64(p.Value)), math.Float64bits(float64(out.Extents[0].Matrix[0].Values[i].Value)))
	}
	out.Extents[0].Matrix[0].Values, in.Extents[0].Matrix[0].Values = nil, nil
	require.Equal(t, in, out)
}

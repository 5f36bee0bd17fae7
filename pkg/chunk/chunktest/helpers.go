package chunktest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

// NewBackend returns a fresh, empty backend and registers its cleanup.
type NewBackend = widecolumntest.NewBackend

// Base is a bucket-aligned time (2021-01-01T00:00:00Z) old enough for every
// bucket around it to be cacheable.
const Base = int64(1609459200000)

const (
	hour = int64(time.Hour / time.Millisecond)
	day  = 24 * hour
)

// NewStore returns a store over b with default options changed by mutate.
func NewStore(t testing.TB, b chunk.Backend, mutate func(*chunk.Options)) (*chunk.Store, *prometheus.Registry) {
	t.Helper()
	opts := chunk.DefaultOptions()
	if mutate != nil {
		mutate(&opts)
	}
	reg := prometheus.NewPedanticRegistry()
	s, err := chunk.New(b, opts, nil, reg)
	require.NoError(t, err)
	return s, reg
}

// XORChunk returns an XOR chunk of n samples from mint every step ms, with
// values of a counter whose increments come from seed.
func XORChunk(t testing.TB, mint int64, n int, step int64, seed uint64) chunk.Chunk {
	t.Helper()
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := float64(rng.IntN(1000))
	ts := mint
	for i := range n {
		ts = mint + int64(i)*step
		app.Append(0, ts, v)
		v += float64(rng.IntN(100))
	}
	return chunk.Chunk{MinTime: mint, MaxTime: ts, Encoding: chunkenc.EncXOR, Data: append([]byte(nil), c.Bytes()...)}
}

// Samples decodes every sample of the chunks.
func Samples(t testing.TB, cs []chunk.Chunk) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, c := range cs {
		ch, err := c.Open()
		require.NoError(t, err)
		it := ch.Iterator(nil)
		for it.Next() != chunkenc.ValNone {
			ts, v := it.At()
			out = append(out, [2]float64{float64(ts), v})
		}
		require.NoError(t, it.Err())
	}
	return out
}

// Dump reads every row of the backend.
func Dump(t testing.TB, b chunk.Backend) []widecolumn.Row {
	t.Helper()
	return widecolumntest.Dump(t, b)
}

// Count returns the rows, cells and bytes (keys, columns, values) stored.
func Count(t testing.TB, b chunk.Backend) (rows, cells, bytes int) {
	t.Helper()
	return widecolumntest.Count(t, b)
}

// KeyTenantBucket decodes the tenant and bucket every row key of the chunk
// store starts with (namespace widecolumn.Chunks, see docs/schema.md).
func KeyTenantBucket(t testing.TB, key []byte) (string, uint32) {
	t.Helper()
	tenant, bucket, _, err := widecolumn.Chunks.ParseBucket(key)
	require.NoError(t, err)
	return string(tenant), bucket
}

// MetricValue sums the samples of the named counter or gauge in reg.
func MetricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return widecolumntest.MetricValue(t, reg, name)
}

// MustMatcher builds a matcher or fails the test.
func MustMatcher(t testing.TB, mt labels.MatchType, name, value string) *labels.Matcher {
	t.Helper()
	m, err := labels.NewMatcher(mt, name, value)
	require.NoError(t, err)
	return m
}

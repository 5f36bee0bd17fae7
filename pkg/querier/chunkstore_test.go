package querier

import (
	"context"
	"fmt"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// storeBackends builds a chunk store on each backend: Pebble in a
// temporary directory and Bigtable on an in-process bttest server.
var storeBackends = map[string]func(t testing.TB) *chunk.Store{
	"pebble":   newPebbleStore,
	"bigtable": newBigtableStore,
}

func newStore(t testing.TB, b chunk.Backend) *chunk.Store {
	t.Helper()
	s, err := chunk.New(b, chunk.DefaultOptions(), nil, prometheus.NewRegistry())
	require.NoError(t, err)
	return s
}

func newPebbleStore(t testing.TB) *chunk.Store {
	t.Helper()
	return newStore(t, backendtest.NewPebble(t))
}

func newBigtableStore(t testing.TB) *chunk.Store {
	t.Helper()
	return newStore(t, backendtest.NewBigtable(t))
}

// encodeChunks encodes samples (in time order) as XOR chunks of up to 120
// samples, as Prometheus cuts them.
func encodeChunks(t testing.TB, samples []sample) []chunk.Chunk {
	t.Helper()
	var out []chunk.Chunk
	for len(samples) > 0 {
		n := min(len(samples), 120)
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		require.NoError(t, err)
		for _, s := range samples[:n] {
			app.Append(0, s.t, s.f)
		}
		out = append(out, chunk.Chunk{MinTime: samples[0].t, MaxTime: samples[n-1].t, Encoding: chunkenc.EncXOR, Data: c.Bytes()})
		samples = samples[n:]
	}
	return out
}

// testSeries is one series and its samples, to be written to the store,
// pushed to the ingesters, or both.
type testSeries struct {
	lset    labels.Labels
	samples []sample
}

// between returns the samples of s in [mint, maxt].
func (s testSeries) between(mint, maxt int64) []sample {
	var out []sample
	for _, x := range s.samples {
		if x.t >= mint && x.t <= maxt {
			out = append(out, x)
		}
	}
	return out
}

// writeStore writes the series' samples in [mint, maxt] to the store, as a
// flush would.
func writeStore(t testing.TB, st *chunk.Store, id string, series []testSeries, mint, maxt int64) {
	t.Helper()
	var batch []chunk.SeriesChunks
	for _, s := range series {
		if smp := s.between(mint, maxt); len(smp) > 0 {
			batch = append(batch, chunk.SeriesChunks{Labels: s.lset, Chunks: encodeChunks(t, smp)})
		}
	}
	_, err := st.WriteSeries(context.Background(), id, batch)
	require.NoError(t, err)
}

// pushIngesters pushes the series' samples in [mint, maxt] to every
// ingester of c.
func pushIngesters(t testing.TB, c *cluster, id string, series []testSeries, mint, maxt int64) {
	t.Helper()
	req := &ingesterpb.PushRequest{}
	for _, s := range series {
		ts := ingesterpb.TimeSeries{Labels: toPairs(s.lset)}
		for _, x := range s.between(mint, maxt) {
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: x.t, Value: x.f})
		}
		if len(ts.Samples) > 0 {
			req.Timeseries = append(req.Timeseries, ts)
		}
	}
	require.NoError(t, c.push(tenant.WithID(context.Background(), tenant.ID(id)), req))
}

// counters returns n counters every step ms in [mint, maxt], with labels
// __name__=name, job=job<i%3>, instance=i<i>.
func counters(name string, n int, mint, maxt, step int64) []testSeries {
	out := make([]testSeries, n)
	for i := range out {
		out[i].lset = labels.FromStrings("__name__", name, "job", fmt.Sprint("job", i%3), "instance", fmt.Sprint("i", i))
		v := 0.0
		for ts := mint; ts <= maxt; ts += step {
			v += float64((ts/step)%7 + int64(i))
			out[i].samples = append(out[i].samples, sample{ts, v})
		}
	}
	return out
}

// testQueryable returns a Queryable over c and st (either may be nil) with
// the default routing and the clock at now, and the registry of its
// metrics.
func testQueryable(c *cluster, st Store, lim Limits, now time.Time) (*Queryable, *prometheus.Registry) {
	reg := prometheus.NewPedanticRegistry()
	q := &Queryable{store: st, limits: lim, cfg: defaultConfig(), now: func() time.Time { return now }, metrics: newMetrics(reg)}
	if c != nil {
		q.instances, q.clients = c, c
	}
	return q, reg
}

// failingStore fails every read with err.
type failingStore struct{ err error }

func (f failingStore) Select(context.Context, string, int64, int64, ...*labels.Matcher) ([]chunk.Series, error) {
	return nil, f.err
}

func (f failingStore) LabelNames(context.Context, string, int64, int64, ...*labels.Matcher) ([]string, error) {
	return nil, f.err
}

func (f failingStore) LabelValues(context.Context, string, string, int64, int64, ...*labels.Matcher) ([]string, error) {
	return nil, f.err
}

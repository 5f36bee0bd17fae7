package flusher

import (
	"context"
	"flag"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

var _ ingester.Flusher = (*Flusher)(nil)
var _ Compactor = (*ingester.Ingester)(nil)
var _ SeriesWriter = (*chunk.Store)(nil)

// base is 2021-01-01T00:00:00Z: blocks this old are past the ingester's
// retention as soon as they are flushed.
const base = chunktest.Base

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newPebble(t testing.TB) chunk.Backend   { return backendtest.NewPebble(t) }
func newBigtable(t testing.TB) chunk.Backend { return backendtest.NewBigtable(t) }

var backends = map[string]func(testing.TB) chunk.Backend{
	"pebble":   newPebble,
	"bigtable": newBigtable,
}

func newStore(t testing.TB, b chunk.Backend) *chunk.Store {
	t.Helper()
	s, err := chunk.New(b, chunk.DefaultOptions(), discard(), prometheus.NewRegistry())
	require.NoError(t, err)
	return s
}

// node is one ingester with its flusher, as in one process.
type node struct {
	ing     *ingester.Ingester
	fl      *Flusher
	flReg   *prometheus.Registry
	stopped bool
}

func (n *node) stop(t testing.TB) {
	t.Helper()
	if n.stopped {
		return
	}
	n.stopped = true
	n.ing.Service().StopAsync()
	require.NoError(t, n.ing.Service().AwaitTerminated(context.Background()))
	n.fl.Service().StopAsync()
	require.NoError(t, n.fl.Service().AwaitTerminated(context.Background()))
}

// startNode starts a flusher writing to w and an ingester on dir reporting
// to it. Retries wait 1ms to 10ms. configure, if any, changes the
// flusher's default config.
func startNode(t testing.TB, dir string, w SeriesWriter, configure ...func(*Config)) *node {
	t.Helper()
	ctx := context.Background()
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("flusher", flag.PanicOnError))
	for _, c := range configure {
		c(&cfg)
	}
	flReg := prometheus.NewPedanticRegistry()
	fl, err := New(Deps{Config: cfg, Store: w, Logger: discard(), Registerer: flReg})
	require.NoError(t, err)
	fl.minBackoff, fl.maxBackoff = time.Millisecond, 10*time.Millisecond

	var icfg ingester.Config
	icfg.RegisterFlags(flag.NewFlagSet("ingester", flag.PanicOnError))
	icfg.Dir = dir
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	ing, err := ingester.New(ingester.Deps{
		Config: icfg, Logger: discard(), Registerer: prometheus.NewRegistry(),
		Overrides: limits.NewOverrides(l), Flusher: fl,
	})
	require.NoError(t, err)

	n := &node{ing: ing, fl: fl, flReg: flReg}
	require.NoError(t, fl.Service().StartAsync(ctx))
	require.NoError(t, fl.Service().AwaitRunning(ctx))
	require.NoError(t, ing.Service().StartAsync(ctx))
	require.NoError(t, ing.Service().AwaitRunning(ctx))
	t.Cleanup(func() { n.stop(t) })
	return n
}

// data describes the samples of a test: series job=0..series-1 of metric
// "m", one sample every step in [from, to].
type data struct {
	series   int
	from, to int64
	step     int64
	// skip, when set, leaves out the samples it returns true for.
	skip func(series int, ts int64) bool
}

func value(series int, ts int64) float64 { return float64(series*7) + float64(ts/1000%86400) }

func seriesLabels(k int) labels.Labels {
	return labels.FromStrings("__name__", "m", "job", "j"+strconv.Itoa(k), "instance", "host-"+strconv.Itoa(k%7))
}

// push pushes d to n for tenant t, one request per hour of data.
func (d data) push(t testing.TB, n *node, id string) {
	t.Helper()
	ctx := tenant.WithID(context.Background(), tenant.ID(id))
	const hour = int64(time.Hour / time.Millisecond)
	for from := d.from; from <= d.to; from += hour {
		req := &ingesterpb.PushRequest{}
		for k := range d.series {
			ts := ingesterpb.TimeSeries{}
			seriesLabels(k).Range(func(l labels.Label) {
				ts.Labels = append(ts.Labels, ingesterpb.LabelPair{Name: l.Name, Value: l.Value})
			})
			for s := from; s < from+hour && s <= d.to; s += d.step {
				if d.skip != nil && d.skip(k, s) {
					continue
				}
				ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: s, Value: value(k, s)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		resp, err := n.ing.Push(ctx, req)
		require.NoError(t, err)
		require.Empty(t, resp.Errors)
	}
}

// expected returns d's samples by series.
func (d data) expected() map[string][][2]float64 {
	out := map[string][][2]float64{}
	for k := range d.series {
		var s [][2]float64
		for ts := d.from; ts <= d.to; ts += d.step {
			s = append(s, [2]float64{float64(ts), value(k, ts)})
		}
		out[seriesLabels(k).String()] = s
	}
	return out
}

// stored reads every series of tenant id from the store, its chunks'
// samples merged and deduplicated by timestamp, as the querier does.
func stored(t testing.TB, s *chunk.Store, id string) map[string][][2]float64 {
	t.Helper()
	m, err := labels.NewMatcher(labels.MatchEqual, "__name__", "m")
	require.NoError(t, err)
	got, err := s.Select(context.Background(), id, 0, 1<<50, m)
	require.NoError(t, err)
	out := map[string][][2]float64{}
	for _, sr := range got {
		samples := chunktest.Samples(t, sr.Chunks)
		sort.SliceStable(samples, func(a, b int) bool { return samples[a][0] < samples[b][0] })
		var dedup [][2]float64
		for _, x := range samples {
			if len(dedup) > 0 && dedup[len(dedup)-1][0] == x[0] {
				require.Equal(t, dedup[len(dedup)-1], x, "replicas disagree on a sample")
				continue
			}
			dedup = append(dedup, x)
		}
		out[sr.Labels.String()] = dedup
	}
	return out
}

// storedBytes is the bytes of keys, columns and values in the backend.
func storedBytes(t testing.TB, b chunk.Backend) int {
	t.Helper()
	_, _, n := chunktest.Count(t, b)
	return n
}

// faultyWriter wraps a SeriesWriter: calls for which fail returns true
// fail, and while gate is set every call blocks until it is closed.
type faultyWriter struct {
	next SeriesWriter

	mu    sync.Mutex
	fail  func(call int) bool
	gate  chan struct{}
	calls int

	series, failed atomic.Int64
}

func (w *faultyWriter) WriteSeries(ctx context.Context, id string, batch []chunk.SeriesChunks) (chunk.WriteStats, error) {
	w.mu.Lock()
	w.calls++
	gate := w.gate
	fail := w.fail != nil && w.fail(w.calls)
	w.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return chunk.WriteStats{}, ctx.Err()
		}
	}
	if fail {
		w.failed.Add(1)
		return chunk.WriteStats{}, errStoreDown
	}
	st, err := w.next.WriteSeries(ctx, id, batch)
	if err == nil {
		w.series.Add(int64(len(batch)))
	}
	return st, err
}

func (w *faultyWriter) setGate(gate chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gate = gate
}

type storeDownError struct{}

func (storeDownError) Error() string { return "store unavailable" }

var errStoreDown error = storeDownError{}

func metric(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return chunktest.MetricValue(t, reg, name)
}

// histogramCount is the number of observations of the named histogram.
func histogramCount(t testing.TB, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

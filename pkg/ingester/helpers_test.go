package ingester

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// defaultLimits returns the limits' flag defaults.
func defaultLimits() limits.Limits {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	return l
}

// defaultConfig returns the config's flag defaults with dir set.
func defaultConfig(dir string) Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("ingester", flag.PanicOnError))
	c.Dir = dir
	return c
}

type testEnv struct {
	ing       *Ingester
	client    ingesterpb.IngesterClient
	reg       *prometheus.Registry
	overrides *limits.Overrides
	stop      func()
}

type envOption func(*Deps, *Ingester)

func withFlusher(f Flusher) envOption { return func(d *Deps, _ *Ingester) { d.Flusher = f } }
func withRing(r RingInfo) envOption   { return func(d *Deps, _ *Ingester) { d.Ring = r } }
func withConfig(f func(*Config)) envOption {
	return func(d *Deps, i *Ingester) {
		if i == nil {
			f(&d.Config)
		}
	}
}
func withNow(now func() time.Time) envOption {
	return func(_ *Deps, i *Ingester) {
		if i != nil {
			i.now = now
			i.dbs.now = now
		}
	}
}

// startIngester starts an ingester on dir behind a real gRPC server on
// 127.0.0.1, with the gogo codec and the tenant interceptors.
func startIngester(t testing.TB, dir string, overrides *limits.Overrides, opts ...envOption) *testEnv {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	d := Deps{
		Config:     defaultConfig(dir),
		Logger:     slog.New(slog.DiscardHandler),
		Registerer: reg,
		Overrides:  overrides,
	}
	for _, o := range opts {
		o(&d, nil)
	}
	ing, err := New(d)
	require.NoError(t, err)
	for _, o := range opts {
		o(&d, ing)
	}
	ctx := context.Background()
	require.NoError(t, ing.Service().StartAsync(ctx))
	require.NoError(t, ing.Service().AwaitRunning(ctx))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(gogocodec.ServerOption(),
		grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(tenant.StreamServerInterceptor))
	ing.Register(srv)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		gogocodec.DialOption(),
		grpc.WithChainUnaryInterceptor(tenant.UnaryClientInterceptor),
		grpc.WithChainStreamInterceptor(tenant.StreamClientInterceptor))
	require.NoError(t, err)

	env := &testEnv{ing: ing, client: ingesterpb.NewIngesterClient(conn), reg: reg, overrides: overrides}
	stopped := false
	env.stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = conn.Close()
		srv.Stop()
		<-served
		ing.Service().StopAsync()
		require.NoError(t, ing.Service().AwaitTerminated(context.Background()))
	}
	t.Cleanup(env.stop)
	return env
}

func ctxFor(id string) context.Context {
	return tenant.WithID(context.Background(), tenant.ID(id))
}

// series builds a wire series from alternating label names and values.
func series(lbls ...string) ingesterpb.TimeSeries {
	ts := ingesterpb.TimeSeries{}
	for k := 0; k+1 < len(lbls); k += 2 {
		ts.Labels = append(ts.Labels, ingesterpb.LabelPair{Name: lbls[k], Value: lbls[k+1]})
	}
	return ts
}

func withSamples(ts ingesterpb.TimeSeries, samples ...ingesterpb.Sample) ingesterpb.TimeSeries {
	ts.Samples = append(ts.Samples, samples...)
	return ts
}

func push(t testing.TB, env *testEnv, id string, ts ...ingesterpb.TimeSeries) *ingesterpb.PushResponse {
	t.Helper()
	resp, err := env.client.Push(ctxFor(id), &ingesterpb.PushRequest{Timeseries: ts})
	require.NoError(t, err)
	return resp
}

// result is a decoded series from QueryStream.
type result struct {
	labels     map[string]string
	samples    []ingesterpb.Sample
	histograms []*histogram.Histogram
	floatHists []*histogram.FloatHistogram
	encodings  []ingesterpb.Chunk_Encoding
}

// queryAll runs QueryStream and decodes every chunk, keyed by the series'
// metric name and "job" label.
func queryAll(t testing.TB, env *testEnv, id string, req *ingesterpb.QueryRequest) (map[string]*result, int) {
	t.Helper()
	stream, err := env.client.QueryStream(ctxFor(id), req)
	require.NoError(t, err)
	out := map[string]*result{}
	messages := 0
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		messages++
		for _, cs := range msg.Series {
			r := &result{labels: map[string]string{}}
			for _, l := range cs.Labels {
				r.labels[l.Name] = l.Value
			}
			for _, c := range cs.Chunks {
				decodeChunk(t, c, r)
			}
			// Chunks come whole; the reader trims them to the range.
			r.samples = slices.DeleteFunc(r.samples, func(s ingesterpb.Sample) bool {
				return s.TimestampMs < req.StartMs || s.TimestampMs > req.EndMs
			})
			out[r.labels["__name__"]+"/"+r.labels["job"]] = r
		}
	}
	return out, messages
}

func decodeChunk(t testing.TB, c ingesterpb.Chunk, r *result) {
	t.Helper()
	enc := map[ingesterpb.Chunk_Encoding]chunkenc.Encoding{
		ingesterpb.Chunk_ENCODING_XOR:             chunkenc.EncXOR,
		ingesterpb.Chunk_ENCODING_HISTOGRAM:       chunkenc.EncHistogram,
		ingesterpb.Chunk_ENCODING_FLOAT_HISTOGRAM: chunkenc.EncFloatHistogram,
	}[c.Encoding]
	r.encodings = append(r.encodings, c.Encoding)
	chk, err := chunkenc.FromData(enc, c.Data)
	require.NoError(t, err)
	it := chk.Iterator(nil)
	for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
		switch vt {
		case chunkenc.ValFloat:
			ts, v := it.At()
			r.samples = append(r.samples, ingesterpb.Sample{TimestampMs: ts, Value: v})
		case chunkenc.ValHistogram:
			_, h := it.AtHistogram(nil)
			r.histograms = append(r.histograms, h)
		case chunkenc.ValFloatHistogram:
			_, fh := it.AtFloatHistogram(nil)
			r.floatHists = append(r.floatHists, fh)
		}
	}
	require.NoError(t, it.Err())
}

func allSeries() *ingesterpb.QueryRequest {
	return &ingesterpb.QueryRequest{StartMs: 0, EndMs: 1 << 50}
}

// fakeRing is a RingInfo with fixed answers.
type fakeRing struct{ healthy, rf int }

func (r fakeRing) HealthyInstancesCount() int { return r.healthy }
func (r fakeRing) ReplicationFactor() int     { return r.rf }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newRegistry() *prometheus.Registry { return prometheus.NewPedanticRegistry() }

// metricValue returns the value of the counter or gauge name whose labels
// include the given name=value pairs (0 when there is none).
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labelPairs ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k := 0; k+1 < len(labelPairs); k += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == labelPairs[k] && l.GetValue() == labelPairs[k+1])
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return 0
}

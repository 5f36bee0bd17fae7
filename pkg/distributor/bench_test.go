package distributor

import (
	"context"
	"fmt"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/distributor/rw1"
	"github.com/hearthmetrics/hearth/pkg/distributor/rw2"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// nopIngester acknowledges every push without marshalling it.
type nopIngester struct{ ingesterpb.IngesterClient }

func (nopIngester) Push(context.Context, *ingesterpb.PushRequest, ...grpc.CallOption) (*ingesterpb.PushResponse, error) {
	return &ingesterpb.PushResponse{}, nil
}

type nopClients struct{}

func (nopClients) Get(string) (ingesterpb.IngesterClient, error) { return nopIngester{}, nil }

func benchRequest(series, labels int) *ingesterpb.PushRequest {
	req := &ingesterpb.PushRequest{}
	for s := range series {
		ts := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: fmt.Sprintf("avalanche_metric_mmmmm_%d", s/100)}}}
		for l := range labels {
			ts.Labels = append(ts.Labels, ingesterpb.LabelPair{Name: fmt.Sprintf("label_key_kkkkk_%d", l), Value: fmt.Sprintf("label_val_vvvvv_%d_%d", l, s)})
		}
		ts.Samples = []ingesterpb.Sample{{Value: float64(s), TimestampMs: nowMs}}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return req
}

// BenchmarkPush measures decode + validate + shard + fan-out bookkeeping
// for a 2,000-series request over 1 replica (the all-in-one) and 3
// replicas, without the network.
//
//	go test -run '^$' -bench 'BenchmarkPush$' -benchmem ./pkg/distributor/
func BenchmarkPush(b *testing.B) {
	for _, rf := range []struct {
		name string
		ring *fakeRing
	}{{"rf1", newFakeRing("a")}, {"rf3", newFakeRing("a", "b", "c")}} {
		b.Run(rf.name, func(b *testing.B) { benchmarkPush(b, rf.ring) })
	}
}

func benchmarkPush(b *testing.B, r *fakeRing) {
	d, err := New(Deps{
		Config: defaultConfig(), Ring: r, Clients: nopClients{},
		Limits: limits.NewOverrides(defaultLimits()), Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewRegistry(), Now: func() time.Time { return testNow },
	})
	require.NoError(b, err)
	ctx := tenant.WithID(context.Background(), "tenant-1")
	const series = 2000
	req := benchRequest(series, 10)
	rw1Body, err := req.Marshal()
	require.NoError(b, err)

	st := writev2.NewSymbolTable()
	v2 := &writev2.Request{}
	for _, ts := range req.Timeseries {
		var refs []uint32
		for _, l := range ts.Labels {
			refs = append(refs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		v2.Timeseries = append(v2.Timeseries, writev2.TimeSeries{LabelsRefs: refs, Samples: []writev2.Sample{{Value: 1, Timestamp: nowMs}}})
	}
	v2.Symbols = st.Symbols()
	rw2Body, err := v2.Marshal()
	require.NoError(b, err)

	pool := remotewrite.NewPool(64 << 20)
	var dec rw2.Decoder
	for _, bc := range []struct {
		name   string
		body   []byte
		decode func([]byte, *remotewrite.Request) error
	}{
		{"rw1", rw1Body, func(body []byte, r *remotewrite.Request) error {
			return rw1.DecodeRequest(body, r, ingesterpb.DecodeLimits{})
		}},
		{"rw2", rw2Body, func(body []byte, r *remotewrite.Request) error {
			err := dec.Decode(body, &r.Push)
			r.ASCIILabels = err == nil && dec.ASCIILabels() // as the handler does
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			run := func() {
				r := pool.Get()
				if err := bc.decode(bc.body, r); err != nil {
					b.Fatal(err)
				}
				if _, err := d.Push(ctx, r); err != nil {
					b.Fatal(err)
				}
				r.Unref()
			}
			run() // warm the pools
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				run()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/series, "ns/sample")
			// The process's CPU time tells more than the wall time on a
			// shared machine.
			b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N)/series, "cpu-ns/sample")
		})
	}
	d.Service().StopAsync()
	d.pushes.Wait()
}

func BenchmarkShardKey(b *testing.B) {
	ls := benchRequest(1, 10).Timeseries[0].Labels
	var scratch []byte
	var sink uint32
	b.ReportAllocs()
	for b.Loop() {
		var k uint32
		k, scratch = ShardKey(scratch, "tenant-1", ls)
		sink ^= k
	}
	_ = sink
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

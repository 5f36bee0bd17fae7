package app

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// BenchmarkAllInOnePush measures the samples per second the all-in-one
// (RF=1, every component in this process) accepts over HTTP from a loop of
// pre-encoded remote-write 1.0 requests: 1,000 series per request, each
// series with 10 labels, 4 concurrent senders. It reports the process's
// CPU time per sample.
//
//	go test -run '^$' -bench BenchmarkAllInOnePush -benchtime=2000x ./pkg/app/
func BenchmarkAllInOnePush(b *testing.B) {
	const (
		seriesPerRequest = 1000
		senders          = 4
		groupsPerSender  = 5
	)
	a := startBenchApp(b)

	// Request r of sender s carries group (s, r%groups) at round r/groups,
	// so each series' timestamps only increase.
	start := time.Now().Add(-time.Hour).UnixMilli()
	perSender := (b.N + senders - 1) / senders
	requests := make([][][]byte, senders)
	enc := &benchEncoder{}
	for s := range senders {
		for r := range perSender {
			group := s*groupsPerSender + r%groupsPerSender
			ts := start + int64(r/groupsPerSender)*1000
			requests[s] = append(requests[s], enc.encode(b, group, seriesPerRequest, ts))
		}
	}
	url := "http://" + a.HTTPAddr() + "/api/v1/push"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}

	b.ReportAllocs()
	b.ResetTimer()
	began, cpu := time.Now(), cpuTime()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for _, body := range requests[s] {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				req.Header.Set("Content-Encoding", "snappy")
				req.Header.Set("X-Scope-OrgID", "bench")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					errs <- fmt.Errorf("push: HTTP %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpuUsed := time.Since(began), cpuTime()-cpu
	b.StopTimer()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	samples := float64(senders * perSender * seriesPerRequest)
	b.ReportMetric(samples/elapsed.Seconds(), "samples/s")
	b.ReportMetric(float64(elapsed.Nanoseconds())/samples, "ns/sample")
	// The process's CPU time (the senders' share is small: their requests
	// are encoded before the timer starts) tells more than the wall time
	// on a shared machine.
	b.ReportMetric(float64(cpuUsed.Nanoseconds())/samples, "cpu-ns/sample")
}

// benchEncoder encodes the benchmark's requests. Each group's series
// labels are marshalled once and reused, so that preparing thousands of
// requests costs little next to the pushes (and leaves little garbage
// for the measured part's GC).
type benchEncoder struct {
	labels map[int][][]byte // group -> each series' marshalled labels
	raw    []byte
}

func (e *benchEncoder) encode(b *testing.B, group, series int, ts int64) []byte {
	if e.labels == nil {
		e.labels = map[int][][]byte{}
	}
	blocks, ok := e.labels[group]
	if !ok {
		for i := range series {
			s := prompb.TimeSeries{Labels: []prompb.Label{
				{Name: "__name__", Value: "bench_requests_total"},
				{Name: "cluster", Value: "eu-west-1"},
				{Name: "env", Value: "production"},
				{Name: "group", Value: fmt.Sprint(group)},
				{Name: "instance", Value: fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)},
				{Name: "job", Value: "node"},
				{Name: "method", Value: "GET"},
				{Name: "namespace", Value: "default"},
				{Name: "path", Value: "/api/v1/items"},
				{Name: "status", Value: "200"},
			}}
			raw, err := s.Marshal()
			require.NoError(b, err)
			blocks = append(blocks, raw)
		}
		e.labels[group] = blocks
	}
	// A sample: value (field 1, double) and timestamp (field 2, varint).
	var smp []byte
	smp = protowire.AppendTag(smp, 1, protowire.Fixed64Type)
	smp = protowire.AppendFixed64(smp, math.Float64bits(float64(ts/1000)))
	smp = protowire.AppendTag(smp, 2, protowire.VarintType)
	smp = protowire.AppendVarint(smp, uint64(ts))
	raw := e.raw[:0]
	for _, l := range blocks {
		// WriteRequest.timeseries (field 1): the labels, then
		// TimeSeries.samples (field 2).
		raw = protowire.AppendTag(raw, 1, protowire.BytesType)
		raw = protowire.AppendVarint(raw, uint64(len(l)+1+protowire.SizeBytes(len(smp))))
		raw = append(raw, l...)
		raw = protowire.AppendTag(raw, 2, protowire.BytesType)
		raw = protowire.AppendBytes(raw, smp)
	}
	e.raw = raw
	return snappy.Encode(nil, raw)
}

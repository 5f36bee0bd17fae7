package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
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
	for s := range senders {
		for r := range perSender {
			group := s*groupsPerSender + r%groupsPerSender
			ts := start + int64(r/groupsPerSender)*1000
			requests[s] = append(requests[s], encodeBenchRequest(b, group, seriesPerRequest, ts))
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

func encodeBenchRequest(b *testing.B, group, series int, ts int64) []byte {
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, series)}
	for i := range series {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
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
			},
			Samples: []prompb.Sample{{Value: float64(ts / 1000), Timestamp: ts}},
		})
	}
	raw, err := req.Marshal()
	require.NoError(b, err)
	return snappy.Encode(nil, raw)
}

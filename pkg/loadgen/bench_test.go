package loadgen

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
)

var sinkBody []byte

// BenchmarkEncode measures the producer side: advancing and encoding one
// request of 1,000 series (per kind and protocol). ns/series is the cost
// of one sample.
func BenchmarkEncode(b *testing.B) {
	kinds := map[string]func(*Config){
		"counters": func(c *Config) { c.GaugeFraction = 0 },
		"gauges":   func(c *Config) { c.GaugeFraction = 1 },
		"native":   func(c *Config) { c.Series, c.NativeHistograms = 0, 1000 },
		"classic":  func(c *Config) { c.Series, c.ClassicHistograms = 0, 1000/classicSeries+1 },
	}
	for _, proto := range []Protocol{ProtocolRW1, ProtocolRW2} {
		for name, change := range kinds {
			b.Run(string(proto)+"/"+name, func(b *testing.B) {
				cfg := testConfig(b, "http://127.0.0.1:1/api/v1/push", func(c *Config) {
					c.Protocol = proto
					c.Series = 1000
					c.BatchSize = 1000
					change(c)
				})
				bt := plan(&cfg)[0]
				enc, s := newEncoder(proto), newShape(cfg.LabelCount, cfg.SeriesPerMetric)
				var l seriesLabels
				var h histogram.Histogram
				b.ReportAllocs()
				round, bytes := 0, 0
				for b.Loop() {
					body, _ := encodeBatch(bt, enc, s, &l, &h, &cfg, round, int64(round)*15000)
					sinkBody = body
					bytes += len(body)
					round++
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(round*bt.series), "ns/series")
				b.ReportMetric(float64(bytes)/float64(round*bt.series), "B/series")
			})
		}
	}
}

// BenchmarkRunNoop measures the whole generator (encoders, pushers, HTTP
// on loopback) against a receiver that discards the bodies: the ceiling
// the generator can drive on this machine.
func BenchmarkRunNoop(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	for _, proto := range []Protocol{ProtocolRW1, ProtocolRW2} {
		b.Run(string(proto), func(b *testing.B) {
			cfg := testConfig(b, srv.URL, func(c *Config) {
				c.Protocol = proto
				c.Series = 100_000
				c.MaxRate = true
				c.Concurrency = 4
				c.Duration = 2 * time.Second
			})
			b.ReportAllocs()
			var accepted uint64
			var elapsed float64
			for b.Loop() {
				sum, err := Run(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				accepted += sum.SamplesAccepted
				elapsed += sum.DurationSeconds
			}
			b.ReportMetric(float64(accepted)/elapsed, "samples/s")
		})
	}
}

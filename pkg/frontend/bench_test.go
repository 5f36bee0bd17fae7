package frontend

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	kgzip "github.com/klauspost/compress/gzip"
)

// BenchmarkQueueOverhead compares a query answered by the querier's
// handler directly with the same query through the frontend (handler,
// queue, in-process worker), and reports each one's p99 latency.
func BenchmarkQueueOverhead(b *testing.B) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	})
	run := func(b *testing.B, serveOne func(*http.Request) int) {
		b.Helper()
		b.ReportAllocs()
		lat := make([]time.Duration, 0, 1024)
		for b.Loop() {
			r := httptest.NewRequest(http.MethodGet, "/prometheus/api/v1/query?query=up", nil)
			start := time.Now()
			if code := serveOne(r); code != http.StatusOK {
				b.Fatalf("status %d", code)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[(len(lat)*99-1)/100].Nanoseconds()), "p99-ns")
	}
	b.Run("direct", func(b *testing.B) {
		run(b, func(r *http.Request) int {
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			return w.Code
		})
	})
	b.Run("frontend", func(b *testing.B) {
		fe := newFrontend(b, defaultConfig(), 10, handler)
		run(b, func(r *http.Request) int { return serve(fe, "a", r).Code })
	})
}

// BenchmarkGzipResponse compresses a 72 KB range-query body (bench.sh's
// range1h_medium: 10 series x 241 points) as the handler does, with a
// pooled klauspost writer, against a new compress/gzip writer per
// response (the handler before issue #18).
func BenchmarkGzipResponse(b *testing.B) {
	var body []byte
	for i := range 2410 {
		body = fmt.Appendf(body, `[%d.%03d,"%v"],`, 1700000000+i*15, i%1000, float64(i)*1.37/3)
	}
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			gz := gzipWriters.Get().(*kgzip.Writer)
			gz.Reset(io.Discard)
			_, _ = gz.Write(body)
			_ = gz.Close()
			gz.Reset(nil)
			gzipWriters.Put(gz)
		}
	})
	b.Run("compress-gzip-new", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			gz := gzip.NewWriter(io.Discard)
			_, _ = gz.Write(body)
			_ = gz.Close()
		}
	})
}

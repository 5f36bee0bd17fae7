package otlp

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// BenchmarkReadBodyGzip reads a gzip-compressed export of 100 points (the
// OpenTelemetry Collector's otlphttp exporter compresses by default).
func BenchmarkReadBodyGzip(b *testing.B) {
	md := metrics(sum("requests", pmetric.AggregationTemporalityCumulative, 100))
	body := gzipped(b, encode(b, md, Protobuf))
	w := httptest.NewRecorder()
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/otlp/v1/metrics", bytes.NewReader(body))
		r.Header.Set("Content-Encoding", "gzip")
		var err error
		buf, err = readBody(w, r, 1<<20, buf)
		if err != nil {
			b.Fatal(err)
		}
	}
}

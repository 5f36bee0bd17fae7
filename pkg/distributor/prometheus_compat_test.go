package distributor

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/golang/snappy"
	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// stored is what a receiver kept of one series: how many samples
// (floats and histograms) and exemplars.
type stored struct {
	samples, exemplars int
}

// answer is a receiver's response to one push and what it stored, keyed
// by the series' labels in Prometheus's text form.
type answer struct {
	status  int
	written [3]string // samples, histograms, exemplars written headers
	series  map[string]stored
}

func writtenHeaders(h http.Header) [3]string {
	return [3]string{h.Get(remotewrite.HeaderSamplesWritten), h.Get(remotewrite.HeaderHistogramsWritten), h.Get(remotewrite.HeaderExemplarsWritten)}
}

// prometheusAnswer pushes body to Prometheus's own remote-write receiver
// over a fresh TSDB and reads back what it stored.
func prometheusAnswer(t *testing.T, body []byte, contentType string) answer {
	t.Helper()
	opts := tsdb.DefaultOptions()
	opts.EnableExemplarStorage, opts.MaxExemplars = true, 100
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, opts, nil)
	require.NoError(t, err)
	defer db.Close()
	h := remote.NewWriteHandler(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), db,
		remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType}, false, false)
	hr := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(body))
	hr.Header.Set("Content-Type", contentType)
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)

	a := answer{status: w.Code, written: writtenHeaders(w.Header()), series: map[string]stored{}}
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer q.Close()
	all := labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+")
	ss := q.Select(context.Background(), false, nil, all)
	for ss.Next() {
		s := ss.At()
		n := 0
		it := s.Iterator(nil)
		for it.Next() != 0 {
			n++
		}
		a.series[s.Labels().String()] = stored{samples: n}
	}
	require.NoError(t, ss.Err())
	eq, err := db.ExemplarQuerier(context.Background())
	require.NoError(t, err)
	res, err := eq.Select(math.MinInt64, math.MaxInt64, []*labels.Matcher{all})
	require.NoError(t, err)
	for _, r := range res {
		st := a.series[r.SeriesLabels.String()]
		st.exemplars += len(r.Exemplars)
		a.series[r.SeriesLabels.String()] = st
	}
	return a
}

// hearthAnswer pushes body to a distributor and reads back what its
// ingester received.
func hearthAnswer(t *testing.T, body []byte, contentType string) (answer, *testEnv) {
	t.Helper()
	env := newTestEnv(t, 1, nil)
	w := env.pushRaw(t, body, contentType, "snappy")
	env.d.Service().StopAsync()
	require.NoError(t, env.d.Service().AwaitTerminated(t.Context()))
	a := answer{status: w.Code, written: writtenHeaders(w.Header()), series: map[string]stored{}}
	for _, ts := range env.ingesters[0].series() {
		b := labels.NewScratchBuilder(len(ts.Labels))
		for _, l := range ts.Labels {
			b.Add(l.Name, l.Value)
		}
		require.True(t, slices.IsSortedFunc(ts.Labels, func(x, y ingesterpb.LabelPair) int { return strings.Compare(x.Name, y.Name) }), "labels reach the ingester sorted")
		st := a.series[b.Labels().String()]
		st.samples += len(ts.Samples) + len(ts.Histograms)
		st.exemplars += len(ts.Exemplars)
		a.series[b.Labels().String()] = st
	}
	return a, env
}

const contentTypeV2 = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

// rw2Series builds a remote-write 2.0 series from label pairs (in the
// order given), with one sample unless noSample.
func rw2Series(st *writev2.SymbolsTable, noSample bool, kv ...string) writev2.TimeSeries {
	ts := writev2.TimeSeries{}
	for _, s := range kv {
		ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(s))
	}
	if !noSample {
		ts.Samples = []writev2.Sample{{Value: 1, Timestamp: nowMs}}
	}
	return ts
}

func marshalSnappy(t *testing.T, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	data, err := m.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, data)
}

// TestRefuseOnlyWhatPrometheusRefuses sends the requests of issue #21 to
// Prometheus's receiver and to Hearth: the status, the written-counts
// headers (remote-write 2.0) and the stored series must agree.
func TestRefuseOnlyWhatPrometheusRefuses(t *testing.T) {
	type tc struct {
		body        func(t *testing.T) []byte
		contentType string
		wantStatus  int
		// wantSorted is how many series Hearth sorted.
		wantSorted float64
	}
	tests := map[string]tc{
		"RW1 unsorted label names are sorted and stored": {
			body: func(t *testing.T) []byte {
				return marshalSnappy(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
					Labels:  []prompb.Label{{Name: "zone", Value: "a"}, {Name: "__name__", Value: "up"}, {Name: "job", Value: "x"}},
					Samples: []prompb.Sample{{Value: 1, Timestamp: nowMs}},
				}}})
			},
			contentType: "application/x-protobuf", wantStatus: http.StatusNoContent, wantSorted: 1,
		},
		"RW2 unsorted label names are sorted and stored": {
			body: func(t *testing.T) []byte {
				st := writev2.NewSymbolTable()
				req := &writev2.Request{Timeseries: []writev2.TimeSeries{
					rw2Series(&st, false, "job", "x", "__name__", "up"),
					rw2Series(&st, false, "__name__", "sorted", "job", "x"),
				}}
				req.Symbols = st.Symbols()
				return marshalSnappy(t, req)
			},
			contentType: contentTypeV2, wantStatus: http.StatusNoContent, wantSorted: 1,
		},
		"RW2 unsorted with a duplicate name is refused, the rest stored": {
			body: func(t *testing.T) []byte {
				st := writev2.NewSymbolTable()
				req := &writev2.Request{Timeseries: []writev2.TimeSeries{
					rw2Series(&st, false, "job", "x", "__name__", "up", "job", "y"),
					rw2Series(&st, false, "__name__", "good"),
				}}
				req.Symbols = st.Symbols()
				return marshalSnappy(t, req)
			},
			contentType: contentTypeV2, wantStatus: http.StatusBadRequest,
		},
		"RW2 empty label name is refused, the rest stored": {
			body: func(t *testing.T) []byte {
				st := writev2.NewSymbolTable()
				req := &writev2.Request{Timeseries: []writev2.TimeSeries{
					rw2Series(&st, false, "", "x", "__name__", "up"),
					rw2Series(&st, false, "__name__", "good"),
				}}
				req.Symbols = st.Symbols()
				return marshalSnappy(t, req)
			},
			contentType: contentTypeV2, wantStatus: http.StatusBadRequest,
		},
		"RW1 exemplar without labels is stored": {
			body: func(t *testing.T) []byte {
				return marshalSnappy(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
					Labels:    []prompb.Label{{Name: "__name__", Value: "up"}},
					Samples:   []prompb.Sample{{Value: 1, Timestamp: nowMs}},
					Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: nowMs}},
				}}})
			},
			contentType: "application/x-protobuf", wantStatus: http.StatusNoContent,
		},
		"RW2 exemplar without labels is stored": {
			body: func(t *testing.T) []byte {
				st := writev2.NewSymbolTable()
				ts := rw2Series(&st, false, "__name__", "up")
				ts.Exemplars = []writev2.Exemplar{{Value: 1, Timestamp: nowMs}}
				req := &writev2.Request{Timeseries: []writev2.TimeSeries{ts}}
				req.Symbols = st.Symbols()
				return marshalSnappy(t, req)
			},
			contentType: contentTypeV2, wantStatus: http.StatusNoContent,
		},
		"RW2 series with metadata and no sample is refused, the rest stored": {
			body: func(t *testing.T) []byte {
				st := writev2.NewSymbolTable()
				empty := rw2Series(&st, true, "__name__", "meta_only")
				empty.Metadata = writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("Help.")}
				empty.Exemplars = []writev2.Exemplar{{Value: 1, Timestamp: nowMs}}
				req := &writev2.Request{Timeseries: []writev2.TimeSeries{empty, rw2Series(&st, false, "__name__", "good")}}
				req.Symbols = st.Symbols()
				return marshalSnappy(t, req)
			},
			contentType: contentTypeV2, wantStatus: http.StatusBadRequest,
		},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			data := c.body(t)
			prom := prometheusAnswer(t, data, c.contentType)
			hearth, env := hearthAnswer(t, data, c.contentType)
			require.Equal(t, c.wantStatus, prom.status, "Prometheus's status")
			require.Equal(t, prom.status, hearth.status, "status")
			if c.contentType == contentTypeV2 {
				require.Equal(t, prom.written, hearth.written, "written-counts headers (samples, histograms, exemplars)")
			}
			require.Equal(t, prom.series, hearth.series, "stored series")
			require.Equal(t, c.wantSorted, testutil.ToFloat64(env.d.metrics.sortedLabels.WithLabelValues("tenant-1")))
			if c.contentType == contentTypeV2 {
				require.Empty(t, env.ingesters[0].received[0].Metadata, "no metadata of a refused series")
			}
		})
	}
}

package querier

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// remoteRead posts req for tenant id and returns the answer's status and
// body (decoded: the samples, or the streamed frames' series and chunk
// counts, or the error text).
func remoteRead(t *testing.T, base, id string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	status, b, err := tryRemoteRead(t, base, id, body)
	require.NoError(t, err)
	return status, b.body, b.header
}

type answer struct {
	body   []byte
	header http.Header
}

// tryRemoteRead is remoteRead that returns a transport error, or an error
// reading the body.
func tryRemoteRead(t *testing.T, base, id string, body []byte) (int, answer, error) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, base+"/api/v1/read", bytes.NewReader(body))
	require.NoError(t, err)
	r.Header.Set(tenant.Header, id)
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, answer{body: b, header: resp.Header}, err
}

func encodeReadRequest(t *testing.T, req *prompb.ReadRequest) []byte {
	t.Helper()
	b, err := proto.Marshal(req)
	require.NoError(t, err)
	return snappy.Encode(nil, b)
}

func readQuery(start, end time.Time, ms ...*prompb.LabelMatcher) *prompb.Query {
	return &prompb.Query{StartTimestampMs: start.UnixMilli(), EndTimestampMs: end.UnixMilli(), Matchers: ms}
}

func eq(name, value string) *prompb.LabelMatcher {
	return &prompb.LabelMatcher{Type: prompb.LabelMatcher_EQ, Name: name, Value: value}
}

// samplesOf decodes a SAMPLES answer into the number of series and samples.
func samplesOf(t *testing.T, b []byte) (series, samples int) {
	t.Helper()
	raw, err := snappy.Decode(nil, b)
	require.NoError(t, err)
	var resp prompb.ReadResponse
	require.NoError(t, proto.Unmarshal(raw, &resp))
	for _, r := range resp.Results {
		for _, ts := range r.Timeseries {
			series++
			samples += len(ts.Samples)
		}
	}
	return series, samples
}

// streamedOf decodes a STREAMED_XOR_CHUNKS answer into the number of
// distinct series and samples.
func streamedOf(t *testing.T, b []byte) (series, samples int) {
	t.Helper()
	rd := remote.NewChunkedReader(bytes.NewReader(b), 50<<20, nil)
	seen := map[string]bool{}
	for {
		var resp prompb.ChunkedReadResponse
		err := rd.NextProto(&resp)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		for _, s := range resp.ChunkedSeries {
			seen[labelsKey(s.Labels)] = true
			for _, c := range s.Chunks {
				chk, err := chunkenc.FromData(chunkenc.Encoding(c.Type), c.Data)
				require.NoError(t, err)
				samples += chk.NumSamples()
			}
		}
	}
	return len(seen), samples
}

func labelsKey(ls []prompb.Label) string {
	var s string
	for _, l := range ls {
		s += l.Name + "=" + l.Value + ","
	}
	return s
}

func TestRemoteReadLimitsAndBadInput(t *testing.T) {
	end := time.Now().Truncate(time.Second)
	start := end.Add(-10 * time.Minute)
	c := newCluster(t, 1)
	pushTestData(t, c, "team-a", 3, 1, end) // 3 series × 41 samples.

	streamed := []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}
	tests := map[string]struct {
		limits      func(*limits.Limits)
		req         *prompb.ReadRequest
		raw         []byte // Sent instead of req when set.
		wantStatus  int
		wantErr     string
		wantCut     bool
		wantSeries  int
		wantSamples int
	}{
		"samples answer": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}},
			wantStatus: http.StatusOK, wantSeries: 3, wantSamples: 3 * 41,
		},
		"streamed answer": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}, AcceptedResponseTypes: streamed},
			wantStatus: http.StatusOK, wantSeries: 3, wantSamples: 3 * 41,
		},
		"no queries": {
			req:        &prompb.ReadRequest{},
			wantStatus: http.StatusBadRequest, wantErr: "remote read request has no queries",
		},
		"a query without matchers": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end)}},
			wantStatus: http.StatusBadRequest, wantErr: "query 0 of the remote read request: no matchers",
		},
		"matchers that match every series": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, &prompb.LabelMatcher{Type: prompb.LabelMatcher_RE, Name: "job", Value: ".*"})}},
			wantStatus: http.StatusBadRequest, wantErr: `selector {job=~".*"} matches every series`,
		},
		"an invalid regular expression": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, &prompb.LabelMatcher{Type: prompb.LabelMatcher_RE, Name: "job", Value: "("})}},
			wantStatus: http.StatusBadRequest, wantErr: "query 0 of the remote read request has an invalid matcher: error parsing regexp",
		},
		"an unknown matcher type": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, &prompb.LabelMatcher{Type: 9, Name: "job", Value: "api"})}},
			wantStatus: http.StatusBadRequest, wantErr: "invalid matcher type",
		},
		"end before start": {
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(end, start, eq("__name__", "up"))}},
			wantStatus: http.StatusBadRequest, wantErr: "ends (",
		},
		"a body that is not snappy": {
			raw:        []byte("\xff\xff\xff\xff\xff\xff not snappy"),
			wantStatus: http.StatusBadRequest, wantErr: "remote read request is not snappy-compressed",
		},
		"a body that is not a ReadRequest": {
			raw:        snappy.Encode(nil, []byte("\x0a\xff\xff\xff")),
			wantStatus: http.StatusBadRequest, wantErr: "remote read request is not a prometheus.ReadRequest",
		},
		"a query longer than max_query_length": {
			limits:     func(l *limits.Limits) { l.MaxQueryLength = model.Duration(5 * time.Minute) },
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}},
			wantStatus: http.StatusBadRequest, wantErr: `query length: 10m0s, limit: 5m0s); the limit is -querier.max-query-length of tenant "team-a"`,
		},
		"samples over max_samples_per_query": {
			limits:     func(l *limits.Limits) { l.MaxSamplesPerQuery = 100 },
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}},
			wantStatus: http.StatusUnprocessableEntity, wantErr: `remote read of tenant "team-a" read more than 100 samples, the limit -querier.max-samples-per-query`,
		},
		"streamed samples over max_samples_per_query in the first series": {
			limits:     func(l *limits.Limits) { l.MaxSamplesPerQuery = 30 },
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}, AcceptedResponseTypes: streamed},
			wantStatus: http.StatusUnprocessableEntity, wantErr: `read more than 30 samples, the limit -querier.max-samples-per-query`,
		},
		"streamed samples over max_samples_per_query after the first frame": {
			// A 200 and the first frames are out before the limit is
			// reached: the connection is cut so that the
			// client cannot take the answer for complete.
			limits:  func(l *limits.Limits) { l.MaxSamplesPerQuery = 100 },
			req:     &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}, AcceptedResponseTypes: streamed},
			wantCut: true,
		},
		"series over max_series_per_query": {
			limits:     func(l *limits.Limits) { l.MaxSeriesPerQuery = 2 },
			req:        &prompb.ReadRequest{Queries: []*prompb.Query{readQuery(start, end, eq("__name__", "up"))}},
			wantStatus: http.StatusUnprocessableEntity, wantErr: "max-series-per-query",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := defaultLimits()
			if tc.limits != nil {
				tc.limits(&l)
			}
			c.overrides.Set(map[tenant.ID]*limits.Limits{"team-a": &l})
			t.Cleanup(func() { c.overrides.Set(nil) })
			api := startLimitedAPI(t, c, l)
			body := tc.raw
			if body == nil {
				body = encodeReadRequest(t, tc.req)
			}
			if tc.wantCut {
				_, _, err := tryRemoteRead(t, api.base, "team-a", body)
				require.Error(t, err)
				return
			}
			status, b, hdr := remoteRead(t, api.base, "team-a", body)
			require.Equal(t, tc.wantStatus, status, "%s", b)
			if tc.wantErr != "" {
				require.Contains(t, string(b), tc.wantErr)
				return
			}
			var series, samples int
			if len(tc.req.AcceptedResponseTypes) > 0 {
				require.Contains(t, hdr.Get("Content-Type"), "application/x-streamed-protobuf")
				series, samples = streamedOf(t, b)
			} else {
				series, samples = samplesOf(t, b)
			}
			require.Equal(t, tc.wantSeries, series)
			require.Equal(t, tc.wantSamples, samples)
			require.InDelta(t, float64(tc.wantSamples), testutil.ToFloat64(api.q.queryable.metrics.tenantSamplesRead.WithLabelValues("team-a")), 0)
		})
	}
}

func TestRemoteReadIsPostOnly(t *testing.T) {
	c := newCluster(t, 1)
	api := startLimitedAPI(t, c, defaultLimits())
	r, err := http.NewRequest(http.MethodGet, api.base+"/api/v1/read", nil)
	require.NoError(t, err)
	r.Header.Set(tenant.Header, "team-a")
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

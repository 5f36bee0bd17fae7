package querier

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func defaultConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("querier", flag.PanicOnError))
	return c
}

// startAPI serves a querier over c on 127.0.0.1 behind the tenant header
// middleware and returns its base URL (with the /prometheus prefix).
func startAPI(t *testing.T, c *cluster, cfg Config) string {
	t.Helper()
	q, err := New(cfg, Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	srv := httptest.NewServer(tenant.TrustHeader(q.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL + cfg.HTTPPrefix
}

type tenantTransport struct {
	tenant string
}

func (tt tenantTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(tenant.Header, tt.tenant)
	return http.DefaultTransport.RoundTrip(r)
}

func apiClient(t *testing.T, base, id string) promv1.API {
	t.Helper()
	c, err := api.NewClient(api.Config{Address: base, RoundTripper: tenantTransport{id}})
	require.NoError(t, err)
	return promv1.NewAPI(c)
}

// pushTestData pushes, for tenant id, up{job="api", instance="i<n>"} for
// n in [0, series) every 15s over the 10 minutes before end, with the given
// value, plus metadata and an exemplar.
func pushTestData(t testing.TB, c *cluster, id string, series int, value float64, end time.Time) {
	t.Helper()
	req := &ingesterpb.PushRequest{
		Metadata: []ingesterpb.MetricMetadata{{Type: ingesterpb.MetricMetadata_METRIC_TYPE_GAUGE, MetricFamilyName: "up", Help: "Whether the target is up."}},
	}
	for n := range series {
		ts := ingesterpb.TimeSeries{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "up"}, {Name: "instance", Value: fmt.Sprint("i", n)}, {Name: "job", Value: "api"}}}
		for at := end.Add(-10 * time.Minute); !at.After(end); at = at.Add(15 * time.Second) {
			ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: at.UnixMilli(), Value: value})
		}
		ts.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: id}}, Value: value, TimestampMs: end.UnixMilli()}}
		req.Timeseries = append(req.Timeseries, ts)
	}
	require.NoError(t, c.push(tenant.WithID(context.Background(), tenant.ID(id)), req))
}

func TestAPI(t *testing.T) {
	c := newCluster(t, 3)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 2, 1, end)
	pushTestData(t, c, "tenant-b", 2, 2, end)
	base := startAPI(t, c, defaultConfig())
	ctx := context.Background()

	for id, want := range map[string]float64{"tenant-a": 1, "tenant-b": 2} {
		t.Run(id, func(t *testing.T) {
			client := apiClient(t, base, id)

			v, warnings, _, err := client.Query(ctx, "up", end)
			require.NoError(t, err)
			require.Empty(t, warnings)
			vec := v.(model.Vector)
			require.Len(t, vec, 2)
			for _, s := range vec {
				require.Equal(t, model.SampleValue(want), s.Value, "each tenant sees only its own samples")
			}

			v, _, _, err = client.QueryRange(ctx, "sum by (job) (up)", promv1.Range{Start: end.Add(-5 * time.Minute), End: end, Step: 15 * time.Second})
			require.NoError(t, err)
			m := v.(model.Matrix)
			require.Len(t, m, 1)
			require.Len(t, m[0].Values, 21)
			require.Equal(t, model.SampleValue(2*want), m[0].Values[0].Value)

			series, _, _, err := client.Series(ctx, []string{`up{instance="i1"}`}, end.Add(-time.Hour), end)
			require.NoError(t, err)
			require.Equal(t, []model.LabelSet{{"__name__": "up", "instance": "i1", "job": "api"}}, series)

			names, _, _, err := client.LabelNames(ctx, nil, end.Add(-time.Hour), end)
			require.NoError(t, err)
			require.Equal(t, model.LabelNames{"__name__", "instance", "job"}, names)

			values, _, _, err := client.LabelValues(ctx, "instance", []string{"up"}, end.Add(-time.Hour), end)
			require.NoError(t, err)
			require.Equal(t, model.LabelValues{"i0", "i1"}, values)

			values, warnings, _, err = client.LabelValues(ctx, "instance", nil, end.Add(-time.Hour), end, promv1.WithLimit(1))
			require.NoError(t, err)
			require.Equal(t, model.LabelValues{"i0"}, values)
			require.Equal(t, promv1.Warnings{"results truncated due to limit"}, warnings)

			md, err := client.Metadata(ctx, "", "")
			require.NoError(t, err)
			require.Equal(t, map[string][]promv1.Metadata{"up": {{Type: "gauge", Help: "Whether the target is up."}}}, md)

			ex, err := client.QueryExemplars(ctx, "up", end.Add(-time.Hour), end)
			require.NoError(t, err)
			require.Len(t, ex, 2)
			require.Len(t, ex[0].Exemplars, 1, "replicas' copies of an exemplar are merged")
			require.Equal(t, model.LabelSet{"trace_id": model.LabelValue(id)}, ex[0].Exemplars[0].Labels)

			bi, err := client.Buildinfo(ctx)
			require.NoError(t, err)
			require.Equal(t, version.Version, bi.Version, "Hearth's version, not the embedded Prometheus's")
		})
	}
}

type apiError struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
}

func getJSON(t *testing.T, rawURL, id string) (int, apiError) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, id)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var e apiError
	require.NoError(t, json.Unmarshal(body, &e), string(body))
	return resp.StatusCode, e
}

func TestAPIErrors(t *testing.T) {
	c := newCluster(t, 3)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 3, 1, end)
	limited := newCluster(t, 3, func(l *limits.Limits) { l.MaxSeriesPerQuery = 1 })
	pushTestData(t, limited, "tenant-a", 3, 1, end)

	cfg := defaultConfig()
	fewSamples := cfg
	fewSamples.MaxSamples = 10
	noTime := cfg
	noTime.Timeout = time.Nanosecond

	rangeQuery := func(q string) string {
		return "/api/v1/query_range?" + url.Values{"query": {q}, "start": {fmt.Sprint(end.Add(-10 * time.Minute).Unix())}, "end": {fmt.Sprint(end.Unix())}, "step": {"15"}}.Encode()
	}
	tests := map[string]struct {
		base       string
		path       string
		wantStatus int
		wantType   string
		wantError  string
	}{
		"bad expression": {
			base: startAPI(t, c, cfg), path: "/api/v1/query?query=up%7B",
			wantStatus: http.StatusBadRequest, wantType: "bad_data",
		},
		"bad metadata limit": {
			base: startAPI(t, c, cfg), path: "/api/v1/metadata?limit=x",
			wantStatus: http.StatusBadRequest, wantType: "bad_data", wantError: "limit must be a number",
		},
		"too many samples": {
			base: startAPI(t, c, fewSamples), path: rangeQuery("up"),
			wantStatus: http.StatusUnprocessableEntity, wantType: "execution", wantError: "query processing would load too many samples into memory",
		},
		"an ingester's per-query limit": {
			base: startAPI(t, limited, cfg), path: rangeQuery("up"),
			wantStatus: http.StatusUnprocessableEntity, wantType: "execution", wantError: "max-series-per-query",
		},
		"timeout": {
			base: startAPI(t, c, noTime), path: rangeQuery("up"),
			wantStatus: http.StatusServiceUnavailable, wantType: "timeout",
		},
		"malformed query shard in a query": {
			base: startAPI(t, c, cfg), path: rangeQuery(`up{__query_shard__="3_of_2"}`),
			wantStatus: http.StatusBadRequest, wantType: "execution", wantError: `__query_shard__="3_of_2"`,
		},
		"malformed query shard in series": {
			base: startAPI(t, c, cfg), path: "/api/v1/series?" + url.Values{"match[]": {`up{__query_shard__="x"}`}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "execution", wantError: `__query_shard__="x"`,
		},
		"malformed query shard in labels": {
			base: startAPI(t, c, cfg), path: "/api/v1/labels?" + url.Values{"match[]": {`{__query_shard__=~"1_of_2"}`}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "execution", wantError: "only = is allowed",
		},
		"malformed query shard in label values": {
			base: startAPI(t, c, cfg), path: "/api/v1/label/job/values?" + url.Values{"match[]": {`{__query_shard__="0_of_2"}`}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "execution", wantError: `__query_shard__="0_of_2"`,
		},
		"malformed query shard in exemplars": {
			base: startAPI(t, c, cfg), path: "/api/v1/query_exemplars?" + url.Values{"query": {`up{__query_shard__="1_of_0"}`}}.Encode(),
			wantStatus: http.StatusBadRequest, wantType: "execution", wantError: `__query_shard__="1_of_0"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, e := getJSON(t, tc.base+tc.path, "tenant-a")
			require.Equal(t, tc.wantStatus, status, e.Error)
			require.Equal(t, "error", e.Status)
			require.Equal(t, tc.wantType, e.ErrorType)
			require.Contains(t, e.Error, tc.wantError)
		})
	}
}

func TestAPIUnknownEndpointsAreNotServed(t *testing.T) {
	base := startAPI(t, newCluster(t, 1), defaultConfig())
	for _, path := range []string{"/api/v1/targets", "/api/v1/admin/tsdb/snapshot", "/api/v1/status/config", "/api/v1/write"} {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		require.NoError(t, err)
		req.Header.Set(tenant.Header, "t")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode, path)
	}
}

// TestIngestersDown stops ingesters one after the other: with one of three
// down queries are still whole; with two down they fail with 503.
func TestIngestersDown(t *testing.T) {
	c := newCluster(t, 3)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 2, 1, end)
	base := startAPI(t, c, defaultConfig())
	client := apiClient(t, base, "tenant-a")
	ctx := context.Background()

	c.stop(0)
	v, _, _, err := client.QueryRange(ctx, "up", promv1.Range{Start: end.Add(-10 * time.Minute), End: end, Step: 15 * time.Second})
	require.NoError(t, err)
	require.Len(t, v.(model.Matrix), 2)
	for _, s := range v.(model.Matrix) {
		require.Len(t, s.Values, 41)
	}
	names, _, _, err := client.LabelNames(ctx, nil, end.Add(-time.Hour), end)
	require.NoError(t, err)
	require.Equal(t, model.LabelNames{"__name__", "instance", "job"}, names)

	c.stop(1)
	for _, path := range []string{
		"/api/v1/query?query=up",
		"/api/v1/labels",
		"/api/v1/series?match[]=up",
		"/api/v1/metadata",
	} {
		status, e := getJSON(t, base+path, "tenant-a")
		require.Equal(t, http.StatusServiceUnavailable, status, path)
		require.Equal(t, "error", e.Status)
		require.Contains(t, e.Error, "instances failed")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Config)
		wantErr []string
	}{
		"defaults are valid":               {mutate: func(*Config) {}},
		"empty prefix is valid":            {mutate: func(c *Config) { c.HTTPPrefix = "" }},
		"store always, ingesters always":   {mutate: func(c *Config) { c.QueryIngestersWithin, c.QueryStoreAfter = 0, 0 }},
		"store always, ingesters recently": {mutate: func(c *Config) { c.QueryStoreAfter = 0 }},
		"query-store-after not less than query-ingesters-within leaves a gap": {
			mutate:  func(c *Config) { c.QueryIngestersWithin, c.QueryStoreAfter = 12*time.Hour, 12*time.Hour },
			wantErr: []string{"querier.query-store-after (12h0m0s) must be less than querier.query-ingesters-within (12h0m0s)"},
		},
		"negative routing durations": {
			mutate:  func(c *Config) { c.QueryIngestersWithin, c.QueryStoreAfter = -time.Hour, -time.Hour },
			wantErr: []string{"querier.query-ingesters-within is -1h0m0s", "querier.query-store-after is -1h0m0s"},
		},
		"every problem is reported": {
			mutate: func(c *Config) {
				c.Timeout, c.MaxSamples, c.LookbackDelta, c.MaxConcurrent, c.HTTPPrefix = 0, -1, 0, 0, "prometheus/"
			},
			wantErr: []string{"querier.timeout", "querier.max-samples", "querier.lookback-delta", "querier.max-concurrent", "querier.http-prefix"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := defaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

package querier

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestCardinalityAPI(t *testing.T) {
	end := time.Now().Truncate(time.Second)
	c := newCluster(t, 3)
	pushTestData(t, c, "team-a", 3, 1, end) // up{instance="i0".."i2", job="api"} on every ingester.
	// An old series: in memory, not active. On a quorum of the ingesters.
	require.NoError(t, c.push(tenant.WithID(context.Background(), "team-a"), &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{
		{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "old"}, {Name: "job", Value: "batch"}}, Samples: []ingesterpb.Sample{{TimestampMs: end.Add(-time.Hour).UnixMilli(), Value: 1}}},
	}}, 0, 1))
	pushTestData(t, c, "team-b", 5, 1, end)

	enabled := defaultLimits()
	enabled.CardinalityAnalysisEnabled = true
	cfg := defaultConfig()
	q, err := New(cfg, Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c, Limits: c.overrides})
	require.NoError(t, err)
	base := newTestServer(t, tenant.TrustHeader(q.Handler())) + cfg.HTTPPrefix

	get := func(t *testing.T, path string, params url.Values) (int, string) {
		t.Helper()
		r, err := http.NewRequest(http.MethodGet, base+"/api/v1/cardinality/"+path+"?"+params.Encode(), nil)
		require.NoError(t, err)
		r.Header.Set(tenant.Header, "team-a")
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	v := func(kv ...string) url.Values {
		out := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}

	tests := map[string]struct {
		limits     func(*limits.Limits)
		path       string
		params     url.Values
		wantStatus int
		want       string // JSON, or a part of the error.
	}{
		"disabled": {
			limits: func(l *limits.Limits) { l.CardinalityAnalysisEnabled = false },
			path:   "label_names", wantStatus: http.StatusBadRequest,
			want: `the cardinality API is disabled for tenant \"team-a\": its limit cardinality_analysis_enabled`,
		},
		"label names of every series in memory": {
			path: "label_names", wantStatus: http.StatusOK,
			want: `{"label_values_count_total":7,"label_names_count":3,"cardinality":[{"label_name":"instance","label_values_count":3},{"label_name":"__name__","label_values_count":2},{"label_name":"job","label_values_count":2}]}`,
		},
		"label names of active series, limited": {
			path: "label_names", params: v("count_method", "active", "limit", "1"), wantStatus: http.StatusOK,
			want: `{"label_values_count_total":5,"label_names_count":3,"cardinality":[{"label_name":"instance","label_values_count":3}]}`,
		},
		"label names with a selector": {
			path: "label_names", params: v("selector", `{job="batch"}`), wantStatus: http.StatusOK,
			want: `{"label_values_count_total":2,"label_names_count":2,"cardinality":[{"label_name":"__name__","label_values_count":1},{"label_name":"job","label_values_count":1}]}`,
		},
		"label values": {
			path: "label_values", params: v("label_names[]", "job", "label_names[]", "instance", "limit", "2"), wantStatus: http.StatusOK,
			want: `{"series_count_total":4,"labels":[{"label_name":"job","label_values_count":2,"series_count":4,"cardinality":[{"label_value":"api","series_count":3},{"label_value":"batch","series_count":1}]},{"label_name":"instance","label_values_count":3,"series_count":3,"cardinality":[{"label_value":"i0","series_count":1},{"label_value":"i1","series_count":1}]}]}`,
		},
		"active series": {
			path: "active_series", params: v("selector", `{job=~"api|batch"}`), wantStatus: http.StatusOK,
			want: `{"data":[{"__name__":"up","instance":"i0","job":"api"},{"__name__":"up","instance":"i1","job":"api"},{"__name__":"up","instance":"i2","job":"api"}]}`,
		},
		"active series without a selector": {
			path: "active_series", wantStatus: http.StatusBadRequest, want: "the selector parameter is required",
		},
		"active series with a selector that matches everything": {
			path: "active_series", params: v("selector", `{job=~".*"}`), wantStatus: http.StatusBadRequest, want: "matches every series",
		},
		"label values without label_names[]": {
			path: "label_values", wantStatus: http.StatusBadRequest, want: "the label_names[] parameter is required",
		},
		"too many label_names[]": {
			limits: func(l *limits.Limits) { l.LabelValuesMaxCardinalityLabelNamesPerRequest = 1 },
			path:   "label_values", params: v("label_names[]", "a", "label_names[]", "b"), wantStatus: http.StatusBadRequest,
			want: "label_names[] has 2 names, more than 1, the limit -querier.label-values-max-cardinality-label-names-per-request",
		},
		"an invalid selector": {
			path: "label_names", params: v("selector", `up{`), wantStatus: http.StatusBadRequest, want: `selector \"up{\" is not a valid series selector`,
		},
		"a limit over 500": {
			path: "label_names", params: v("limit", "501"), wantStatus: http.StatusBadRequest, want: "limit is 501, must be between 0 and 500",
		},
		"an unknown count_method": {
			path: "label_names", params: v("count_method", "all"), wantStatus: http.StatusBadRequest, want: `count_method is \"all\", must be inmemory or active`,
		},
		"more series than cardinality_analysis_max_series": {
			limits: func(l *limits.Limits) { l.CardinalityAnalysisMaxSeries = 2 },
			path:   "label_names", wantStatus: http.StatusUnprocessableEntity,
			want: `selects more than 2 series in one ingester, the limit -querier.cardinality-analysis-max-series of tenant \"team-a\"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := enabled
			if tc.limits != nil {
				tc.limits(&l)
			}
			c.overrides.Set(map[tenant.ID]*limits.Limits{"team-a": &l})
			t.Cleanup(func() { c.overrides.Set(nil) })
			status, body := get(t, tc.path, tc.params)
			require.Equal(t, tc.wantStatus, status, body)
			if status == http.StatusOK {
				require.JSONEq(t, tc.want, body)
				return
			}
			require.Contains(t, body, tc.want)
		})
	}
}

package querier

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func federate(t *testing.T, base, id, accept string, selectors ...string) (int, string, string) {
	t.Helper()
	v := url.Values{}
	for _, s := range selectors {
		v.Add("match[]", s)
	}
	r, err := http.NewRequest(http.MethodGet, base+"/federate?"+v.Encode(), nil)
	require.NoError(t, err)
	r.Header.Set(tenant.Header, id)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestFederate(t *testing.T) {
	end := time.Now().Truncate(time.Second)
	c := newCluster(t, 1)
	pushTestData(t, c, "team-a", 2, 7, end)
	pushTestData(t, c, "team-b", 1, 9, end)
	// A series whose latest sample is older than the lookback, and one
	// that ended with a stale marker: neither is federated.
	ctx := tenant.WithID(context.Background(), "team-a")
	require.NoError(t, c.push(ctx, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{
		{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "old"}, {Name: "job", Value: "api"}}, Samples: []ingesterpb.Sample{{TimestampMs: end.Add(-time.Hour).UnixMilli(), Value: 1}}},
		{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "agg"}, {Name: "job", Value: "api"}}, Samples: []ingesterpb.Sample{{TimestampMs: end.UnixMilli(), Value: 3}}},
		{Labels: []ingesterpb.LabelPair{{Name: "__name__", Value: "gone"}, {Name: "job", Value: "api"}}, Samples: []ingesterpb.Sample{{TimestampMs: end.Add(-time.Minute).UnixMilli(), Value: 1}, {TimestampMs: end.UnixMilli(), Value: math.Float64frombits(value.StaleNaN)}}},
	}}))
	api := startLimitedAPI(t, c, defaultLimits())
	ts := end.UnixMilli()
	wantUp := fmt.Sprintf("# TYPE up untyped\nup{instance=\"i0\",job=\"api\"} 7 %d\nup{instance=\"i1\",job=\"api\"} 7 %d\n", ts, ts)

	tests := map[string]struct {
		selectors  []string
		accept     string
		wantStatus int
		want       string // The exact body, or for errors a part of it.
		wantFamily int    // For protobuf answers: the series of family up.
	}{
		"text": {
			selectors: []string{`up`}, wantStatus: http.StatusOK, want: wantUp,
		},
		"overlapping selectors answer each series once": {
			selectors: []string{`up`, `{job="api",__name__=~"u.*"}`, `up{instance="i1"}`}, wantStatus: http.StatusOK, want: wantUp,
		},
		"a series without an instance label gets an empty one": {
			selectors: []string{`agg`, `old`, `gone`}, wantStatus: http.StatusOK,
			want: fmt.Sprintf("# TYPE agg untyped\nagg{job=\"api\",instance=\"\"} 3 %d\n", ts),
		},
		"protobuf when asked": {
			selectors: []string{`up`}, accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
			wantStatus: http.StatusOK, wantFamily: 2,
		},
		"no match[]": {
			wantStatus: http.StatusBadRequest, want: "/federate needs at least one match[] parameter",
		},
		"an invalid selector": {
			selectors: []string{`up{`}, wantStatus: http.StatusBadRequest, want: `match[] "up{" of /federate is not a valid series selector`,
		},
		"a selector that matches every series": {
			selectors: []string{`{job=~".*"}`}, wantStatus: http.StatusBadRequest, want: `matches every series`,
		},
		"too many selectors": {
			selectors: make([]string, maxFederateSelectors+1), wantStatus: http.StatusBadRequest, want: "more than the limit of 100",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			status, ct, body := federate(t, api.base, "team-a", tc.accept, tc.selectors...)
			require.Equal(t, tc.wantStatus, status, body)
			switch {
			case status != http.StatusOK:
				require.Contains(t, body, tc.want)
			case tc.wantFamily > 0:
				require.Contains(t, ct, "application/vnd.google.protobuf")
				dec := expfmt.NewDecoder(strings.NewReader(body), expfmt.Format(ct))
				var n int
				for {
					var mf dto.MetricFamily
					if err := dec.Decode(&mf); err != nil {
						require.ErrorIs(t, err, io.EOF)
						break
					}
					require.Equal(t, "up", mf.GetName())
					n += len(mf.Metric)
				}
				require.Equal(t, tc.wantFamily, n)
			default:
				require.Contains(t, ct, "text/plain")
				require.Equal(t, tc.want, body)
			}
		})
	}

	t.Run("a tenant sees only its own series", func(t *testing.T) {
		status, _, body := federate(t, api.base, "team-b", "", `up`)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, fmt.Sprintf("# TYPE up untyped\nup{instance=\"i0\",job=\"api\"} 9 %d\n", ts), body)
	})
	t.Run("series over max_series_per_query", func(t *testing.T) {
		l := defaultLimits()
		l.MaxSeriesPerQuery = 1
		c.overrides.Set(map[tenant.ID]*limits.Limits{"team-a": &l})
		t.Cleanup(func() { c.overrides.Set(nil) })
		status, _, body := federate(t, api.base, "team-a", "", `up`)
		require.Equal(t, http.StatusUnprocessableEntity, status)
		require.Contains(t, body, "max-series-per-query")
	})
}

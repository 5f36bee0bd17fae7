package app

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// TestTenantFederation reads two tenants in one request through every
// read path federation covers, from the ingester and then from the store,
// and checks that it stays off unless enabled and never reaches the paths
// it does not cover.
func TestTenantFederation(t *testing.T) {
	p := startProcess(t, TargetAll, "-querier.query-store-after=0", "-tenant-federation.enabled")
	now := time.Now().Truncate(time.Second)
	for tenantID, v := range map[string]float64{"team-a": 1, "team-b": 2} {
		req := seriesRequest(3, now.Add(-time.Minute))
		for i := range req.Timeseries {
			req.Timeseries[i].Samples[0].Value = v
		}
		req.Metadata = []prompb.MetricMetadata{{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "limited", Help: "help of " + tenantID}}
		require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), tenantID, req).StatusCode)
	}
	ctx := context.Background()
	check := func(t *testing.T) {
		api := queryAPI(t, p.app.HTTPAddr(), "team-b|team-a")
		v, _, _, err := api.Query(ctx, "sum by (__tenant_id__) (limited)", now)
		require.NoError(t, err)
		require.ElementsMatch(t, model.Vector{
			{Metric: model.Metric{"__tenant_id__": "team-a"}, Value: 3, Timestamp: model.TimeFromUnixNano(now.UnixNano())},
			{Metric: model.Metric{"__tenant_id__": "team-b"}, Value: 6, Timestamp: model.TimeFromUnixNano(now.UnixNano())},
		}, v.(model.Vector))

		m, _, _, err := api.QueryRange(ctx, `sum(limited{__tenant_id__="team-b"})`, promv1.Range{Start: now.Add(-time.Minute), End: now, Step: 15 * time.Second})
		require.NoError(t, err)
		require.Len(t, m.(model.Matrix), 1)
		for _, s := range m.(model.Matrix)[0].Values {
			require.Equal(t, model.SampleValue(6), s.Value)
		}

		series, _, _, err := api.Series(ctx, []string{`limited`}, now.Add(-time.Hour), now)
		require.NoError(t, err)
		require.Len(t, series, 6)
		for _, s := range series {
			require.Contains(t, []model.LabelValue{"team-a", "team-b"}, s["__tenant_id__"])
		}
		names, _, _, err := api.LabelNames(ctx, nil, now.Add(-time.Hour), now)
		require.NoError(t, err)
		require.Contains(t, names, model.LabelName("__tenant_id__"))
		values, _, _, err := api.LabelValues(ctx, "__tenant_id__", nil, now.Add(-time.Hour), now)
		require.NoError(t, err)
		require.Equal(t, model.LabelValues{"team-a", "team-b"}, values)

		md, err := api.Metadata(ctx, "limited", "")
		require.NoError(t, err)
		require.Len(t, md["limited"], 2, "each tenant's help")
	}
	t.Run("from the ingester", check)

	// The TSDB status is one tenant's: refused with a message, not read
	// with a tenant ID no ingester accepts.
	resp := getWithTenant(t, "http://"+p.app.HTTPAddr()+"/prometheus/api/v1/status/tsdb", "team-a|team-b")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	require.Contains(t, string(body), "one tenant at a time")
	// Writes never federate.
	require.Equal(t, http.StatusBadRequest, rawPush(t, p.app.HTTPAddr(), "team-a|team-b", seriesRequest(1, now)).StatusCode)

	token := p.app.operatorToken.Token.Reveal()
	r, err := http.NewRequest(http.MethodPost, "http://"+p.app.InternalAddr()+"/ingester/flush", nil)
	require.NoError(t, err)
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	t.Run("from the store and the ingester", check)
}

func TestTenantFederationIsOffByDefault(t *testing.T) {
	p := startProcess(t, TargetAll)
	resp := getWithTenant(t, "http://"+p.app.HTTPAddr()+"/prometheus/api/v1/query?query=up", "team-a|team-b")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
	require.Contains(t, string(body), "tenant")
}

func getWithTenant(t *testing.T, url, tenantID string) *http.Response {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	r.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	return resp
}

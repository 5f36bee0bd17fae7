package querier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func getStatus(t *testing.T, url, id string, into any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, id)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if into != nil && resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(body, into), string(body))
	}
	return resp.StatusCode
}

// TestStatusEndpoints reads the status endpoints through Prometheus's own
// API client, so their format is Prometheus's, on a three-ingester
// cluster: each tenant's series are counted once whatever the replication.
func TestStatusEndpoints(t *testing.T) {
	c := newCluster(t, 3)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 2, 1, end)
	pushTestData(t, c, "tenant-b", 5, 2, end)
	base := startAPI(t, c, defaultConfig())
	ctx := context.Background()

	var bi struct {
		Status string
		Data   BuildInfo
	}
	require.Equal(t, http.StatusOK, getStatus(t, base+"/api/v1/status/buildinfo", "tenant-a", &bi))
	require.Equal(t, "hearth", bi.Data.Application)
	require.NotEmpty(t, bi.Data.GoVersion)
	// Grafana compares the strings: features?.ruler_config_api === 'true'.
	require.Equal(t, map[string]string{
		"ruler_config_api": "false", "alertmanager_config_api": "false", "query_sharding": "false", "federated_rules": "false",
	}, bi.Data.Features)
	_, err := apiClient(t, base, "tenant-a").Buildinfo(ctx)
	require.NoError(t, err)

	rt, err := apiClient(t, base, "tenant-a").Runtimeinfo(ctx)
	require.NoError(t, err)
	require.Positive(t, rt.GoroutineCount)
	require.Equal(t, "forever", rt.StorageRetention)
	require.Empty(t, rt.CWD, "the querier's directory is not the tenant's business")

	for id, want := range map[string]uint64{"tenant-a": 2, "tenant-b": 5} {
		t.Run(id, func(t *testing.T) {
			st, err := apiClient(t, base, id).TSDB(ctx, promv1.WithLimit(2))
			require.NoError(t, err)
			require.Equal(t, int(want), st.HeadStats.NumSeries)
			require.Equal(t, []promv1.Stat{{Name: "up", Value: want}}, st.SeriesCountByMetricName)
			require.Equal(t, []promv1.Stat{{Name: "instance", Value: want}, {Name: "__name__", Value: 1}}, st.LabelValueCountByLabelName)
			require.Equal(t, []promv1.Stat{{Name: "__name__=up", Value: want}, {Name: "job=api", Value: want}}, st.SeriesCountByLabelValuePair)
			require.Len(t, st.MemoryInBytesByLabelName, 2)
		})
	}
	require.Equal(t, http.StatusBadRequest, getStatus(t, base+"/api/v1/status/tsdb?limit=0", "tenant-a", nil))

	// Flags and configuration are operator business; Grafana takes a 200
	// on status/flags for Thanos.
	for _, p := range []string{"/api/v1/status/flags", "/api/v1/status/config"} {
		require.Equal(t, http.StatusNotFound, getStatus(t, base+p, "tenant-a", nil), p)
	}
}

func TestBuildInfoFeatures(t *testing.T) {
	c := newCluster(t, 1)
	q, err := New(defaultConfig(), Deps{Registerer: prometheus.NewPedanticRegistry(), Instances: c, Clients: c, Features: Features{RulerConfigAPI: true, QuerySharding: true}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, q.Engine().Close()) })
	require.Equal(t, map[string]string{
		"ruler_config_api": "true", "alertmanager_config_api": "false", "query_sharding": "true", "federated_rules": "false",
	}, q.features.asMap())
}

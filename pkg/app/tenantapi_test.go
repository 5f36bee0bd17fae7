package app

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

// TestTenantEndpointsNeedTheReadScope: remote read, federation, the
// cardinality API and user_stats answer a read key for its own tenant, and
// refuse no key (401) and a write-only key (403).
func TestTenantEndpointsNeedTheReadScope(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys", "-querier.cardinality-analysis-enabled=true")
	writeKey := createKey(t, p, "team-a", "write")
	readKey := createKey(t, p, "team-a", "read")
	basic := config_util.DefaultHTTPClientConfig
	basic.BasicAuth = &config_util.BasicAuth{Username: "team-a", Password: config_util.Secret(writeKey)}
	require.NoError(t, keyPusher(t, p.app.HTTPAddr(), basic).push(context.Background(), 3, time.Now(), 1))

	get := func(path, key string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, "http://"+p.app.HTTPAddr()+path, nil)
		require.NoError(t, err)
		if key != "" {
			req.SetBasicAuth("team-a", key)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	for path, want := range map[string]string{
		"/prometheus/federate?match[]=test_metric":                          `test_metric{instance="host-0",job="integration"} 1`,
		"/prometheus/api/v1/cardinality/label_names":                        `{"label_values_count_total":5,"label_names_count":3,`,
		"/prometheus/api/v1/cardinality/active_series?selector=test_metric": `{"__name__":"test_metric","instance":"host-0","job":"integration"}`,
		"/api/v1/user_stats":                                                `"numSeries":3`,
	} {
		t.Run(path, func(t *testing.T) {
			status, body := get(path, readKey)
			require.Equal(t, http.StatusOK, status, body)
			require.Contains(t, body, want)
			status, _ = get(path, "")
			require.Equal(t, http.StatusUnauthorized, status)
			status, body = get(path, writeKey)
			require.Equal(t, http.StatusForbidden, status)
			require.Contains(t, body, "lacks the read scope")
		})
	}
}

package app

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/version"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/querier"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestIdentity checks what the all-in-one says it is: buildinfo with
// Hearth's application and version, the features the all-in-one runs (the
// ruler and its config API), and hearth_build_info.
func TestIdentity(t *testing.T) {
	p := startProcess(t, TargetAll)
	req, err := http.NewRequest(http.MethodGet, "http://"+p.app.HTTPAddr()+"/prometheus/api/v1/status/buildinfo", nil)
	require.NoError(t, err)
	req.Header.Set(tenant.Header, "team-a")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var got struct{ Data querier.BuildInfo }
	require.NoError(t, json.Unmarshal(body, &got))
	require.Equal(t, "hearth", got.Data.Application)
	require.Equal(t, version.Version, got.Data.Version)
	require.Equal(t, map[string]string{
		"ruler_config_api": "true", "alertmanager_config_api": "false", "query_sharding": "false", "federated_rules": "false",
	}, got.Data.Features)

	require.NoError(t, testutil.GatherAndCompare(p.reg, strings.NewReader(`
# HELP hearth_build_info A metric with a constant '1' value labelled by the version, revision, branch, build date and Go version Hearth was built from.
# TYPE hearth_build_info gauge
hearth_build_info{branch="`+version.Branch+`",build_date="`+version.BuildDate+`",goversion="`+version.GoVersion+`",revision="`+version.GetRevision()+`",version="`+version.Version+`"} 1
`), "hearth_build_info"))
}

package app

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

const configReference = "../../docs/configuration.md"

// TestConfigReference fails when docs/configuration.md is not what the flag
// set generates; `make doc` (HEARTH_UPDATE_DOC=1) rewrites it.
func TestConfigReference(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteConfigReference(&b))
	if os.Getenv("HEARTH_UPDATE_DOC") != "" {
		require.NoError(t, os.WriteFile(configReference, b.Bytes(), 0o644))
	}
	got, err := os.ReadFile(configReference)
	require.NoError(t, err)
	require.Equal(t, b.String(), string(got), "docs/configuration.md is stale: run `make doc`")
}

// TestEveryFlagHasACategory keeps the maturity map complete and current:
// every flag has exactly one category and the map names no flag that is
// gone.
func TestEveryFlagHasACategory(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range FlagDocs() {
		seen[d.Name] = true
		require.Containsf(t, []string{CategoryBasic, CategoryAdvanced, CategoryExperimental}, d.Category, "flag -%s has no maturity category: add it to flagCategories in pkg/app/flagcategories.go", d.Name)
		require.NotEmptyf(t, d.Type, "flag -%s", d.Name)
	}
	for name := range flagCategories {
		require.Truef(t, seen[name], "flagCategories names -%s, which is no flag", name)
	}
}

func TestRouteLabel(t *testing.T) {
	for path, want := range map[string]string{
		"/api/v1/push":                         "api_v1_push",
		"/otlp/v1/metrics":                     "otlp_v1_metrics",
		"/prometheus/api/v1/query_range":       "prometheus_api_v1_query_range",
		"/prometheus/api/v1/label/job/values":  "prometheus_api_v1_label",
		"/prometheus/api/v1/anything-a-tenant": "prometheus_api_v1_other",
		"/prometheus/config/v1/rules/ns":       "prometheus_config_v1_rules",
		"/random/path":                         "other",
	} {
		require.Equal(t, want, routeLabel(path), path)
	}
}

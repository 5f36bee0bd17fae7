package limits

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseOverrides(t *testing.T) {
	tests := map[string]struct {
		file    string
		check   func(t *testing.T, got map[tenant.ID]*Limits)
		wantErr []string
	}{
		"empty file has no overrides": {
			file:  "",
			check: func(t *testing.T, got map[tenant.ID]*Limits) { require.Empty(t, got) },
		},
		"a tenant's entry starts from the defaults": {
			file: "overrides:\n  a:\n    ingestion_rate_limit: 10\n    max_query_length: 1d\n",
			check: func(t *testing.T, got map[tenant.ID]*Limits) {
				require.InDelta(t, 10.0, got["a"].IngestionRate, 0)
				require.Equal(t, "1d", got["a"].MaxQueryLength.String())
				require.Equal(t, 50000, got["a"].IngestionBurstSize, "unlisted limits keep their default")
				require.Equal(t, 30, got["a"].MaxLabelNamesPerSeries)
			},
		},
		"an empty tenant entry is the defaults": {
			file:  "overrides:\n  a:\n",
			check: func(t *testing.T, got map[tenant.ID]*Limits) { require.Equal(t, 30, got["a"].MaxLabelNamesPerSeries) },
		},
		"HA settings": {
			file: "overrides:\n  a:\n    accept_ha_samples: true\n    ha_cluster_label: dc\n    ha_max_clusters: 2\n",
			check: func(t *testing.T, got map[tenant.ID]*Limits) {
				require.True(t, got["a"].AcceptHASamples)
				require.Equal(t, "dc", got["a"].HAClusterLabel)
				require.Equal(t, "__replica__", got["a"].HAReplicaLabel)
				require.Equal(t, 2, got["a"].HAMaxClusters)
			},
		},
		"every problem is reported": {
			file: "overrides:\n  a:\n    no_such_limit: 1\n  b:\n    max_series_per_tenant: -1\n  '..':\n    max_series_per_tenant: 1\n",
			wantErr: []string{
				`tenant a`, "no_such_limit",
				"tenant b", "max_series_per_tenant is -1",
				`tenant ".."`,
			},
		},
		"unknown top-level key": {file: "overides: {}\n", wantErr: []string{"overides"}},
		"not YAML":              {file: "overrides: [", wantErr: []string{"parsing runtime config"}},
		"same HA labels": {
			file:    "overrides:\n  a:\n    accept_ha_samples: true\n    ha_replica_label: cluster\n",
			wantErr: []string{`both "cluster"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseOverrides([]byte(tc.file), defaults(t))
			if len(tc.wantErr) > 0 {
				for _, want := range tc.wantErr {
					require.ErrorContains(t, err, want)
				}
				return
			}
			require.NoError(t, err)
			tc.check(t, got)
		})
	}
}

type runtimeEnv struct {
	path string
	o    *Overrides
	rc   *RuntimeConfig
	reg  *prometheus.Registry
}

func newRuntimeEnv(t *testing.T, content string) *runtimeEnv {
	t.Helper()
	e := &runtimeEnv{path: filepath.Join(t.TempDir(), "runtime.yaml"), reg: prometheus.NewPedanticRegistry()}
	e.write(t, content)
	e.o = NewOverrides(defaults(t))
	e.rc = NewRuntimeConfig(Config{File: e.path, ReloadPeriod: 10 * time.Second}, e.o, slog.New(slog.DiscardHandler), e.reg)
	return e
}

func (e *runtimeEnv) write(t *testing.T, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(e.path, []byte(content), 0o600))
}

func (e *runtimeEnv) requireMetrics(t *testing.T, success, failure, last int) {
	t.Helper()
	require.InDelta(t, float64(success), testutil.ToFloat64(e.rc.reloads.WithLabelValues("success")), 0)
	require.InDelta(t, float64(failure), testutil.ToFloat64(e.rc.reloads.WithLabelValues("failure")), 0)
	require.InDelta(t, float64(last), testutil.ToFloat64(e.rc.lastSuccessful), 0)
}

func TestRuntimeConfigStartFailsOnInvalidFile(t *testing.T) {
	e := newRuntimeEnv(t, "overrides:\n  a:\n    nope: 1\n")
	require.NoError(t, e.rc.Service().StartAsync(t.Context()))
	err := e.rc.Service().AwaitTerminated(context.Background())
	require.ErrorContains(t, err, "nope")
}

func TestRuntimeConfigReloadsOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRuntimeEnv(t, "overrides:\n  a:\n    max_label_names_per_series: 5\n")
		svc := e.rc.Service()
		require.NoError(t, svc.StartAsync(t.Context()))
		require.NoError(t, svc.AwaitRunning(t.Context()))
		require.Equal(t, 5, e.o.For("a").MaxLabelNamesPerSeries)
		e.requireMetrics(t, 1, 0, 1)

		// Unchanged content is not applied again.
		time.Sleep(10 * time.Second)
		synctest.Wait()
		e.requireMetrics(t, 1, 0, 1)

		// A change applies at the next period, without a restart.
		e.write(t, "overrides:\n  a:\n    max_label_names_per_series: 7\n  b:\n    ingestion_rate_limit: 1\n")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, 7, e.o.For("a").MaxLabelNamesPerSeries)
		require.InDelta(t, 1.0, e.o.For("b").IngestionRate, 0)
		e.requireMetrics(t, 2, 0, 1)

		// A bad file keeps the last good overrides, and is counted once.
		e.write(t, "overrides:\n  a:\n    max_label_names_per_series: -7\n")
		time.Sleep(20 * time.Second)
		synctest.Wait()
		require.Equal(t, 7, e.o.For("a").MaxLabelNamesPerSeries)
		e.requireMetrics(t, 2, 1, 0)

		// Removing a tenant's entry brings its defaults back.
		e.write(t, "overrides:\n  b:\n    ingestion_rate_limit: 2\n")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		require.Equal(t, 30, e.o.For("a").MaxLabelNamesPerSeries)
		e.requireMetrics(t, 3, 1, 1)

		svc.StopAsync()
		require.NoError(t, svc.AwaitTerminated(context.Background()))
	})
}

func TestRuntimeConfigWithoutFile(t *testing.T) {
	o := NewOverrides(defaults(t))
	rc := NewRuntimeConfig(Config{}, o, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, rc.Service().StartAsync(t.Context()))
	require.NoError(t, rc.Service().AwaitRunning(t.Context()))
	rc.Service().StopAsync()
	require.NoError(t, rc.Service().AwaitTerminated(context.Background()))
	require.Empty(t, o.All())
}

func TestRuntimeConfigHandler(t *testing.T) {
	e := newRuntimeEnv(t, "overrides:\n  a:\n    max_label_names_per_series: 5\n")
	require.NoError(t, e.rc.Reload())

	get := func(target string) string {
		rec := httptest.NewRecorder()
		e.rc.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		require.Equal(t, http.StatusOK, rec.Code)
		return rec.Body.String()
	}
	full := get("/runtime_config")
	require.Contains(t, full, "defaults:\n")
	require.Contains(t, full, "max_label_names_per_series: 30")
	require.Contains(t, full, "max_label_names_per_series: 5")
	require.Contains(t, full, "ingestion_rate_limit: 25000", "a tenant's entry shows every limit")

	diff := get("/runtime_config?mode=diff")
	require.Equal(t, "overrides:\n    a:\n        max_label_names_per_series: 5\n", diff)
	require.NotContains(t, diff, "defaults")
}

package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/common/version"

	"github.com/hearthmetrics/hearth/pkg/querier"
)

// versionFlag prints the build's version and exits (as `hearth version`).
const versionFlag = "version"

// Version returns what `hearth version` and -version print: the program,
// its version, revision, branch and build date as `make build` stamps them
// from git (github.com/prometheus/common/version's variables, set with
// -ldflags -X; an unstamped build shows the VCS revision Go recorded).
func Version(program string) string {
	return version.Print(program)
}

// registerBuildInfo exports hearth_build_info, 1, labelled with the build's
// version, revision, branch and Go version, as Prometheus's
// prometheus_build_info is.
func registerBuildInfo(reg prometheus.Registerer) {
	promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
		Name: "hearth_build_info",
		Help: "A metric with a constant '1' value labelled by the version, revision, branch, build date and Go version Hearth was built from.",
	}, []string{"version", "revision", "branch", "build_date", "goversion"}).
		WithLabelValues(version.Version, version.GetRevision(), version.Branch, version.BuildDate, version.GoVersion).Set(1)
}

// features reports the Mimir-style capabilities this deployment runs, for
// status/buildinfo's features map (Grafana reads it to decide what to
// offer). The ruler (and its rule-group config API) runs where its target
// does; no Alertmanager, no federated rule groups, no query frontend to
// shard queries yet. Each turns true here once its component is wired and
// running in the deployment.
func (a *App) features() querier.Features {
	// The ruler's rule-group config API runs wherever the ruler does.
	return querier.Features{RulerConfigAPI: a.cfg.has(TargetRuler)}
}

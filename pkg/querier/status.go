package querier

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// The status endpoints of the Prometheus API that Hearth answers itself:
// buildinfo (Hearth's identity, and the features Grafana reads), runtimeinfo
// and tsdb (the tenant's in-memory series). status/flags and status/config
// are never served to tenants: flags carry internal addresses and store
// IDs, and Grafana takes any 200 on status/flags for Thanos. The operator
// listener's /config shows the configuration.

// Features are the Mimir-style capabilities a deployment runs. Grafana reads
// them from buildinfo's features map (the strings "true" and "false") and,
// when the map is there, treats the datasource as Mimir. Each is true only
// when that capability actually runs in the deployment answering.
type Features struct {
	// RulerConfigAPI: the ruler's rule-group API (<prefix>/config/v1/rules).
	RulerConfigAPI bool
	// AlertmanagerConfigAPI: the Alertmanager's configuration API.
	AlertmanagerConfigAPI bool
	// QuerySharding: a query frontend splits queries into shards.
	QuerySharding bool
	// FederatedRules: rule groups may query several tenants.
	FederatedRules bool
}

func (f Features) asMap() map[string]string {
	s := strconv.FormatBool
	return map[string]string{
		"ruler_config_api":        s(f.RulerConfigAPI),
		"alertmanager_config_api": s(f.AlertmanagerConfigAPI),
		"query_sharding":          s(f.QuerySharding),
		"federated_rules":         s(f.FederatedRules),
	}
}

// BuildInfo is the data of <prefix>/api/v1/status/buildinfo: Prometheus's
// fields for Hearth's own build, plus Mimir's application and features.
type BuildInfo struct {
	Application string            `json:"application"`
	Version     string            `json:"version"`
	Revision    string            `json:"revision"`
	Branch      string            `json:"branch"`
	BuildUser   string            `json:"buildUser"`
	BuildDate   string            `json:"buildDate"`
	GoVersion   string            `json:"goVersion"`
	Features    map[string]string `json:"features"`
}

// statusHandler serves status/buildinfo, status/runtimeinfo and status/tsdb.
type statusHandler struct {
	q        *Queryable
	features Features
	started  time.Time
	// respond writes Prometheus's JSON envelope (the metadata handler's).
	respond *metadataHandler
}

func (h *statusHandler) buildInfo(w http.ResponseWriter, r *http.Request) {
	h.respond.respond(w, r, http.StatusOK, &v1.Response{Status: "success", Data: BuildInfo{
		Application: "hearth",
		Version:     version.Version,
		Revision:    version.GetRevision(),
		Branch:      version.Branch,
		BuildUser:   version.BuildUser,
		BuildDate:   version.BuildDate,
		GoVersion:   version.GoVersion,
		Features:    h.features.asMap(),
	}})
}

// runtimeInfo answers as Prometheus does, for this querier process. The
// working directory and host name stay private (tenants need not know
// them); the retention is the tenant's.
func (h *statusHandler) runtimeInfo(w http.ResponseWriter, r *http.Request) {
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		h.respond.respondError(w, r, "bad_data", err)
		return
	}
	retention := "forever"
	if h.q.limits != nil {
		if d := h.q.limits.For(id).RetentionPeriod; d > 0 {
			retention = d.String()
		}
	}
	h.respond.respond(w, r, http.StatusOK, &v1.Response{Status: "success", Data: v1.RuntimeInfo{
		StartTime:           h.started,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      h.started,
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
		StorageRetention:    retention,
	}})
}

// tsdbStatusWindow is the span status/tsdb reads: a block range, about what
// an ingester's head holds (Prometheus's status/tsdb describes its head).
const tsdbStatusWindow = 2 * time.Hour

// maxTSDBStatusLimit is Prometheus's bound on status/tsdb's limit.
const maxTSDBStatusLimit = 10000

// tsdb answers status/tsdb for the tenant: the series the ingesters hold
// that have samples in the last tsdbStatusWindow, counted once whatever
// the replication, in Prometheus's format. It reads the series' labels
// (no chunks) as /api/v1/series does, so the ingesters' per-query series
// limit bounds it: a tenant over that limit gets 422 naming it. The chunk
// count is not known without reading chunks and is reported as 0; minTime
// and maxTime are the window read.
func (h *statusHandler) tsdb(w http.ResponseWriter, r *http.Request) {
	limit := 10
	if s := r.FormValue("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 {
			h.respond.respondError(w, r, "bad_data", errors.New("limit must be a positive number"))
			return
		}
		if limit > maxTSDBStatusLimit {
			h.respond.respondError(w, r, "bad_data", fmt.Errorf("limit must not exceed %d", maxTSDBStatusLimit))
			return
		}
	}
	maxt := time.Now().UnixMilli()
	mint := maxt - tsdbStatusWindow.Milliseconds()
	q, err := h.q.Querier(mint, maxt)
	if err != nil {
		h.respond.respondError(w, r, "internal", err)
		return
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: mint, End: maxt, Func: "series"}
	ss := q.Select(r.Context(), false, hints, labels.MustNewMatcher(labels.MatchRegexp, model.MetricNameLabel, ".+"))
	st := newTSDBStats()
	for ss.Next() {
		st.add(ss.At().Labels())
	}
	if err := ss.Err(); err != nil {
		h.respond.respondError(w, r, readErrorType(err), fmt.Errorf("status/tsdb: %w", err))
		return
	}
	h.respond.respond(w, r, http.StatusOK, &v1.Response{Status: "success", Data: st.status(limit, mint, maxt)})
}

// readErrorType is the Prometheus error type of a read error, as the
// metadata handler classifies it.
func readErrorType(err error) string {
	var limitErr *QueryLimitError
	var timeout promql.ErrQueryTimeout
	var canceled promql.ErrQueryCanceled
	var unavailable *UnavailableError
	switch {
	case errors.As(err, &limitErr):
		return "execution"
	case errors.As(err, &timeout):
		return "timeout"
	case errors.As(err, &canceled):
		return "canceled"
	case errors.As(err, &unavailable):
		return "unavailable"
	}
	return "internal"
}

// tsdbStats counts series by label pair, as Prometheus's postings stats do.
type tsdbStats struct {
	series uint64
	// pairs counts series by label name, then value.
	pairs map[string]map[string]uint64
}

func newTSDBStats() *tsdbStats { return &tsdbStats{pairs: map[string]map[string]uint64{}} }

func (s *tsdbStats) add(ls labels.Labels) {
	s.series++
	ls.Range(func(l labels.Label) {
		values := s.pairs[l.Name]
		if values == nil {
			values = map[string]uint64{}
			s.pairs[l.Name] = values
		}
		values[l.Value]++
	})
}

// status builds Prometheus's answer with the top limit of each list.
func (s *tsdbStats) status(limit int, mint, maxt int64) v1.TSDBStatus {
	var metrics, names, sizes, pairs []v1.TSDBStat
	numPairs := 0
	for name, values := range s.pairs {
		names = append(names, v1.TSDBStat{Name: name, Value: uint64(len(values))})
		numPairs += len(values)
		var size uint64
		for value, n := range values {
			if name == model.MetricNameLabel {
				metrics = append(metrics, v1.TSDBStat{Name: value, Value: n})
			}
			pairs = append(pairs, v1.TSDBStat{Name: name + "=" + value, Value: n})
			size += labels.SizeOfLabels(name, value, n)
		}
		sizes = append(sizes, v1.TSDBStat{Name: name, Value: size})
	}
	return v1.TSDBStatus{
		HeadStats: v1.HeadStats{
			NumSeries:     s.series,
			NumLabelPairs: numPairs,
			MinTime:       mint,
			MaxTime:       maxt,
		},
		SeriesCountByMetricName:     top(metrics, limit),
		LabelValueCountByLabelName:  top(names, limit),
		MemoryInBytesByLabelName:    top(sizes, limit),
		SeriesCountByLabelValuePair: top(pairs, limit),
	}
}

// top returns the limit largest stats, largest first, ties by name.
func top(stats []v1.TSDBStat, limit int) []v1.TSDBStat {
	slices.SortFunc(stats, func(a, b v1.TSDBStat) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	if len(stats) > limit {
		stats = stats[:limit]
	}
	if stats == nil {
		stats = []v1.TSDBStat{}
	}
	return stats
}

// registerStatus mounts the status endpoints under apiPrefix; wrap takes a
// tenant's concurrency slot for the one that reads the ingesters.
func (q *Querier) registerStatus(mux *http.ServeMux, apiPrefix string, wrap func(http.Handler) http.Handler) {
	h := &statusHandler{q: q.queryable, features: q.features, started: time.Now(), respond: &metadataHandler{q: q.queryable, logger: q.logger}}
	mux.HandleFunc("GET "+apiPrefix+"/status/buildinfo", h.buildInfo)
	mux.HandleFunc("GET "+apiPrefix+"/status/runtimeinfo", h.runtimeInfo)
	mux.Handle("GET "+apiPrefix+"/status/tsdb", wrap(http.HandlerFunc(h.tsdb)))
}

package configapi

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Bounds of -ruler.max-rule-group-bytes.
const (
	// DefaultMaxRuleGroupBytes is the default body limit: a group of the
	// default 20 rules fits with 50 KiB per rule.
	DefaultMaxRuleGroupBytes = 1 << 20
	// MaxRuleGroupBytesLimit is the most [Deps.MaxRuleGroupBytes] may be:
	// half of what the store keeps of one group, since the YAML the store
	// writes can be longer than the body it came from.
	MaxRuleGroupBytesLimit = rulestore.MaxGroupBytes / 2
)

// Refusal reasons, the values of hearth_ruler_config_refusals_total's
// reason label.
const (
	reasonInvalidName   = "invalid_name"
	reasonInvalidGroup  = "invalid_group"
	reasonTooLarge      = "too_large"
	reasonLimit         = "limit"
	reasonNotFound      = "not_found"
	reasonStoreError    = "store_error"
	errNoRuleGroupsText = "no rule groups found"
)

// Limits is what the API needs of the per-tenant limits; *limits.Overrides
// is one. For must be safe for concurrent use and its result not modified.
type Limits interface {
	For(t tenant.ID) *limits.Limits
}

// Deps are the API's dependencies.
type Deps struct {
	Store  *rulestore.Store
	Limits Limits
	// OnChange, when not nil, is called with the tenant after each write
	// or delete that succeeded, so a ruler in the same process picks the
	// change up at once. It must not block.
	OnChange func(tenant.ID)
	// MaxRuleGroupBytes bounds a POST body (-ruler.max-rule-group-bytes);
	// 0 means [DefaultMaxRuleGroupBytes].
	MaxRuleGroupBytes int
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
}

// API serves the rules configuration API. It is safe for concurrent use.
type API struct {
	deps     Deps
	maxBytes int
	parser   parser.Parser
	requests *prometheus.CounterVec
	refusals *prometheus.CounterVec
}

// New returns the API over deps.
func New(deps Deps) (*API, error) {
	if deps.Store == nil || deps.Limits == nil {
		return nil, errors.New("the rules API needs a store and limits")
	}
	maxBytes := deps.MaxRuleGroupBytes
	if maxBytes == 0 {
		maxBytes = DefaultMaxRuleGroupBytes
	}
	if maxBytes < 0 || maxBytes > MaxRuleGroupBytesLimit {
		return nil, fmt.Errorf("-ruler.max-rule-group-bytes is %d, must be between 1 and %d", deps.MaxRuleGroupBytes, MaxRuleGroupBytesLimit)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	reg := promauto.With(deps.Registerer)
	return &API{
		deps:     deps,
		maxBytes: maxBytes,
		parser:   parser.NewParser(parser.Options{}),
		requests: reg.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ruler_config_requests_total",
			Help: "Requests to the rules configuration API, by operation and status code.",
		}, []string{"operation", "status_code"}),
		refusals: reg.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_ruler_config_refusals_total",
			Help: "Rules configuration API requests refused, by reason (invalid_name, invalid_group, too_large, limit, not_found, store_error).",
		}, []string{"reason"}),
	}, nil
}

// Roots returns the paths the API is mounted under for the querier's HTTP
// prefix: the canonical one first.
func Roots(prefix string) []string {
	return []string{prefix + "/config/v1/rules", "/api/v1/rules", "/api/prom/rules"}
}

// Register mounts the API on mux under every root of [Roots](prefix).
// wrap binds each route to its tenant and requires scope of it: reads
// pass auth.ScopeRead|auth.ScopeRules (either will do), writes
// auth.ScopeRules.
func (a *API) Register(mux *http.ServeMux, prefix string, wrap func(scope auth.Scope, h http.Handler) http.Handler) {
	read, write := auth.ScopeRead|auth.ScopeRules, auth.ScopeRules
	for _, root := range Roots(prefix) {
		for _, r := range []struct {
			method, path, op string
			scope            auth.Scope
			h                func(http.ResponseWriter, *http.Request, tenant.ID) (int, string)
		}{
			{http.MethodGet, "", "list", read, a.listAll},
			{http.MethodGet, "/{namespace}", "list_namespace", read, a.listNamespace},
			{http.MethodGet, "/{namespace}/{group}", "get", read, a.getGroup},
			{http.MethodPost, "/{namespace}", "set", write, a.setGroup},
			{http.MethodDelete, "/{namespace}/{group}", "delete", write, a.deleteGroup},
			{http.MethodDelete, "/{namespace}", "delete_namespace", write, a.deleteNamespace},
		} {
			mux.Handle(r.method+" "+root+r.path, wrap(r.scope, a.handler(r.op, r.h)))
		}
	}
}

// handler runs h with the request's tenant, counts its answer and logs
// refusals it gave a reason for.
func (a *API) handler(op string, h func(http.ResponseWriter, *http.Request, tenant.ID) (int, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := tenant.FromContext(r.Context())
		if err != nil {
			// The wiring binds every route to a tenant; this is a bug.
			http.Error(w, "no tenant bound to the request", http.StatusInternalServerError)
			a.requests.WithLabelValues(op, "500").Inc()
			return
		}
		code, reason := h(w, r, t)
		a.requests.WithLabelValues(op, strconv.Itoa(code)).Inc()
		if reason != "" {
			a.refusals.WithLabelValues(reason).Inc()
		}
	})
}

// names reads and checks the path's namespace and, when wanted, group.
func names(r *http.Request, withGroup bool) (namespace, group string, err error) {
	namespace = r.PathValue("namespace")
	if err := rulestore.ValidateName("namespace", namespace); err != nil {
		return "", "", err
	}
	if withGroup {
		group = r.PathValue("group")
		if err := rulestore.ValidateName("group", group); err != nil {
			return "", "", err
		}
	}
	return namespace, group, nil
}

func (a *API) listAll(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	groups, err := a.deps.Store.ListGroups(r.Context(), t)
	if err != nil {
		return a.storeError(w, r, t, err)
	}
	return a.writeGroups(w, groups)
}

func (a *API) listNamespace(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	namespace, _, err := names(r, false)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	groups, err := a.deps.Store.ListNamespace(r.Context(), t, namespace)
	if err != nil {
		return a.storeError(w, r, t, err)
	}
	return a.writeGroups(w, groups)
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	namespace, name, err := names(r, true)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	g, err := a.deps.Store.GetGroup(r.Context(), t, namespace, name)
	if errors.Is(err, rulestore.ErrNotFound) {
		return refuse(w, http.StatusNotFound, errNoRuleGroupsText, "")
	}
	if err != nil {
		return a.storeError(w, r, t, err)
	}
	return writeYAML(w, &g.RuleGroup)
}

func (a *API) setGroup(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	namespace, _, err := names(r, false)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	tooLarge := fmt.Sprintf("the rule group is over %d bytes (-ruler.max-rule-group-bytes)", a.maxBytes)
	if r.ContentLength > int64(a.maxBytes) {
		return refuse(w, http.StatusRequestEntityTooLarge, tooLarge, reasonTooLarge)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.maxBytes)))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return refuse(w, http.StatusRequestEntityTooLarge, tooLarge, reasonTooLarge)
		}
		return refuse(w, http.StatusBadRequest, "reading the body: "+err.Error(), reasonInvalidGroup)
	}
	l := a.deps.Limits.For(t)
	g, err := ParseGroup(body, l, t, a.parser)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidGroup)
	}
	if err := rulestore.ValidateName("group", g.Name); err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	existing := 0
	if l.RulerMaxRuleGroupsPerTenant > 0 {
		all, err := a.deps.Store.ListGroups(r.Context(), t)
		if err != nil {
			return a.storeError(w, r, t, err)
		}
		// Replacing a group does not add one.
		existing = len(all)
		if slices.ContainsFunc(all, func(o rulestore.Group) bool { return o.Namespace == namespace && o.Name == g.Name }) {
			existing--
		}
	}
	if err := checkLimits(&g, existing, l, t); err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonLimit)
	}
	if err := a.deps.Store.SetGroup(r.Context(), t, namespace, g); err != nil {
		return a.storeError(w, r, t, err)
	}
	a.changed(t)
	return accepted(w)
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	namespace, name, err := names(r, true)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	if err := a.deps.Store.DeleteGroup(r.Context(), t, namespace, name); err != nil {
		return a.storeError(w, r, t, err)
	}
	a.changed(t)
	return accepted(w)
}

func (a *API) deleteNamespace(w http.ResponseWriter, r *http.Request, t tenant.ID) (int, string) {
	namespace, _, err := names(r, false)
	if err != nil {
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	}
	if err := a.deps.Store.DeleteNamespace(r.Context(), t, namespace); err != nil {
		return a.storeError(w, r, t, err)
	}
	a.changed(t)
	return accepted(w)
}

func (a *API) changed(t tenant.ID) {
	if a.deps.OnChange != nil {
		a.deps.OnChange(t)
	}
}

// storeError answers an error of the store: the one place its errors
// become statuses.
func (a *API) storeError(w http.ResponseWriter, r *http.Request, t tenant.ID, err error) (int, string) {
	switch {
	case errors.Is(err, rulestore.ErrNotFound):
		return refuse(w, http.StatusNotFound, err.Error(), reasonNotFound)
	case errors.Is(err, rulestore.ErrInvalidName):
		return refuse(w, http.StatusBadRequest, err.Error(), reasonInvalidName)
	case errors.Is(err, rulestore.ErrTooLarge):
		return refuse(w, http.StatusRequestEntityTooLarge, err.Error(), reasonTooLarge)
	case r.Context().Err() != nil:
		// The client went away or the deadline passed.
		return refuse(w, http.StatusServiceUnavailable, "request cancelled: "+r.Context().Err().Error(), reasonStoreError)
	}
	a.deps.Logger.Error("Rule store request failed", "err", err, "tenant", string(t), "method", r.Method, "path", r.URL.EscapedPath())
	return refuse(w, http.StatusInternalServerError, "rule store unavailable, retry later", reasonStoreError)
}

// writeGroups answers groups as a YAML map namespace → groups, or 404 when
// there are none.
func (a *API) writeGroups(w http.ResponseWriter, groups []rulestore.Group) (int, string) {
	if len(groups) == 0 {
		return refuse(w, http.StatusNotFound, errNoRuleGroupsText, "")
	}
	out := map[string][]rulefmt.RuleGroup{}
	for _, g := range groups {
		out[g.Namespace] = append(out[g.Namespace], g.RuleGroup)
	}
	return writeYAML(w, out)
}

func writeYAML(w http.ResponseWriter, v any) (int, string) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return refuse(w, http.StatusInternalServerError, "encoding the rule groups: "+err.Error(), reasonStoreError)
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return http.StatusOK, ""
}

// accepted answers a write as Cortex does: 202, the change being picked
// up by the rulers.
func accepted(w http.ResponseWriter) (int, string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"success"}`)
	return http.StatusAccepted, ""
}

func refuse(w http.ResponseWriter, code int, msg, reason string) (int, string) {
	http.Error(w, msg, code)
	return code, reason
}

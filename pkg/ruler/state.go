package ruler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// GroupState is one rule group in Prometheus's /api/v1/rules format.
type GroupState struct {
	Name           string      `json:"name"`
	File           string      `json:"file"`
	Rules          []RuleState `json:"rules"`
	Interval       float64     `json:"interval"`
	Limit          int         `json:"limit"`
	EvaluationTime float64     `json:"evaluationTime"`
	LastEvaluation time.Time   `json:"lastEvaluation"`
}

// RuleState is one alerting or recording rule in Prometheus's format;
// the alerting fields are empty for a recording rule.
type RuleState struct {
	State          string        `json:"state,omitempty"`
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Duration       *float64      `json:"duration,omitempty"`
	KeepFiringFor  *float64      `json:"keepFiringFor,omitempty"`
	Labels         labels.Labels `json:"labels"`
	Annotations    labels.Labels `json:"annotations,omitzero"`
	Alerts         []AlertState  `json:"alerts,omitempty"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// AlertState is one active alert in Prometheus's format.
type AlertState struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

// StateFilter selects rules, as /api/v1/rules's parameters do.
type StateFilter struct {
	Type          string   `json:"type,omitempty"` // "", "alert" or "record"
	RuleNames     []string `json:"rule_names,omitempty"`
	RuleGroups    []string `json:"rule_groups,omitempty"`
	Files         []string `json:"files,omitempty"`
	Match         []string `json:"match,omitempty"`
	ExcludeAlerts bool     `json:"exclude_alerts,omitempty"`
}

// Peers returns the groups of the tenant in ctx that the other rulers of
// the ring evaluate (pkg/app fans out over the ring). nil in a single
// process.
type Peers func(ctx context.Context, f StateFilter) ([]GroupState, error)

// Groups returns the rule groups of the tenant in ctx that this ruler
// evaluates, filtered by f, sorted by file then name.
func (r *Ruler) Groups(ctx context.Context, f StateFilter) ([]GroupState, error) {
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	var matcherSets [][]*labels.Matcher
	for _, m := range f.Match {
		ms, err := selectorParser.ParseMetricSelector(m)
		if err != nil {
			return nil, fmt.Errorf("match[] %q: %w", m, err)
		}
		matcherSets = append(matcherSets, ms)
	}
	tr := r.tenantRulesFor(t)
	if tr == nil {
		return nil, nil
	}
	var out []GroupState
	for _, g := range tr.manager.RuleGroups() {
		if len(f.RuleGroups) > 0 && !slices.Contains(f.RuleGroups, g.Name()) {
			continue
		}
		if len(f.Files) > 0 && !slices.Contains(f.Files, g.File()) {
			continue
		}
		gs := GroupState{
			Name: g.Name(), File: g.File(), Interval: g.Interval().Seconds(), Limit: g.Limit(),
			EvaluationTime: g.GetEvaluationTime().Seconds(), LastEvaluation: g.GetLastEvaluation(),
		}
		for _, rule := range g.Rules(matcherSets...) {
			if len(f.RuleNames) > 0 && !slices.Contains(f.RuleNames, rule.Name()) {
				continue
			}
			rs := RuleState{
				Name: rule.Name(), Query: rule.Query().String(), Labels: rule.Labels(), Health: string(rule.Health()),
				EvaluationTime: rule.GetEvaluationDuration().Seconds(), LastEvaluation: rule.GetEvaluationTimestamp(),
			}
			if err := rule.LastError(); err != nil {
				rs.LastError = err.Error()
			}
			switch rule := rule.(type) {
			case *rules.AlertingRule:
				if f.Type == "record" {
					continue
				}
				hold, keep := rule.HoldDuration().Seconds(), rule.KeepFiringFor().Seconds()
				rs.Type, rs.State, rs.Duration, rs.KeepFiringFor, rs.Annotations = "alerting", rule.State().String(), &hold, &keep, rule.Annotations()
				if !f.ExcludeAlerts {
					rs.Alerts = alertStates(rule.ActiveAlerts())
				}
			case *rules.RecordingRule:
				if f.Type == "alert" {
					continue
				}
				rs.Type = "recording"
			default:
				continue
			}
			gs.Rules = append(gs.Rules, rs)
		}
		if len(gs.Rules) > 0 {
			out = append(out, gs)
		}
	}
	sortGroups(out)
	return out, nil
}

func sortGroups(gs []GroupState) {
	slices.SortFunc(gs, func(a, b GroupState) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func alertStates(alerts []*rules.Alert) []AlertState {
	out := make([]AlertState, 0, len(alerts))
	for _, a := range alerts {
		as := AlertState{
			Labels: a.Labels, Annotations: a.Annotations, State: a.State.String(),
			ActiveAt: &a.ActiveAt, Value: strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			as.KeepFiringSince = &a.KeepFiringSince
		}
		out = append(out, as)
	}
	return out
}

// groupToken is a group's pagination token, as Prometheus computes it.
func groupToken(file, group string) string {
	h := sha256.Sum256([]byte(file + ";" + group))
	return hex.EncodeToString(h[:])
}

// StateHandler serves Prometheus's GET /api/v1/rules and /api/v1/alerts
// (mounted under the Prometheus prefix) for the tenant of the request,
// merging this ruler's groups with peers' (nil: none).
func (r *Ruler) StateHandler(peers Peers) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/rules", func(w http.ResponseWriter, req *http.Request) { r.serveRules(w, req, peers) })
	mux.HandleFunc("/api/v1/alerts", func(w http.ResponseWriter, req *http.Request) { r.serveAlerts(w, req, peers) })
	return mux
}

// allGroups returns this ruler's groups and its peers'.
func (r *Ruler) allGroups(ctx context.Context, f StateFilter, peers Peers) ([]GroupState, error) {
	local, err := r.Groups(ctx, f)
	if err != nil {
		return nil, err
	}
	if peers == nil {
		return local, nil
	}
	remote, err := peers(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("asking the other rulers: %w", err)
	}
	// A group moving between rulers may be reported twice: keep one.
	seen := map[string]bool{}
	var out []GroupState
	for _, g := range append(local, remote...) {
		k := g.File + "\x00" + g.Name
		if !seen[k] {
			seen[k] = true
			out = append(out, g)
		}
	}
	sortGroups(out)
	return out, nil
}

func (r *Ruler) serveRules(w http.ResponseWriter, req *http.Request, peers Peers) {
	if err := req.ParseForm(); err != nil {
		writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("parsing form values: %w", err))
		return
	}
	f := StateFilter{
		Type:       strings.ToLower(req.Form.Get("type")),
		RuleNames:  req.Form["rule_name[]"],
		RuleGroups: req.Form["rule_group[]"],
		Files:      req.Form["file[]"],
		Match:      req.Form["match[]"],
	}
	if f.Type != "" && f.Type != "alert" && f.Type != "record" {
		writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("invalid parameter \"type\": not supported value %q", f.Type))
		return
	}
	if s := req.Form.Get("exclude_alerts"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("invalid parameter \"exclude_alerts\": %w", err))
			return
		}
		f.ExcludeAlerts = b
	}
	limit, token := int64(-1), req.Form.Get("group_next_token")
	if s := req.Form.Get("group_limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n <= 0 {
			writeAPIError(w, http.StatusBadRequest, "bad_data", errors.New("invalid parameter \"group_limit\": group_limit needs to be a number greater than 0"))
			return
		}
		limit = n
	} else if token != "" {
		writeAPIError(w, http.StatusBadRequest, "bad_data", errors.New("invalid parameter \"group_next_token\": group_limit needs to be present in order to paginate over the groups"))
		return
	}
	for _, m := range f.Match {
		if _, err := selectorParser.ParseMetricSelector(m); err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("invalid parameter \"match[]\": %w", err))
			return
		}
	}
	groups, err := r.allGroups(req.Context(), f, peers)
	if err != nil {
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", err)
		return
	}
	type data struct {
		Groups         []GroupState `json:"groups"`
		GroupNextToken string       `json:"groupNextToken,omitempty"`
	}
	res := data{Groups: []GroupState{}}
	found := token == ""
	for _, g := range groups {
		if !found {
			if groupToken(g.File, g.Name) != token {
				continue
			}
			found = true
		}
		if limit > 0 && int64(len(res.Groups)) == limit {
			res.GroupNextToken = groupToken(g.File, g.Name)
			break
		}
		res.Groups = append(res.Groups, g)
	}
	if !found {
		writeAPIError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("invalid parameter \"group_next_token\": invalid group_next_token '%v'. were rule groups changed?", token))
		return
	}
	writeAPISuccess(w, res)
}

func (r *Ruler) serveAlerts(w http.ResponseWriter, req *http.Request, peers Peers) {
	groups, err := r.allGroups(req.Context(), StateFilter{Type: "alert"}, peers)
	if err != nil {
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", err)
		return
	}
	alerts := []AlertState{}
	for _, g := range groups {
		for _, rule := range g.Rules {
			alerts = append(alerts, rule.Alerts...)
		}
	}
	writeAPISuccess(w, struct {
		Alerts []AlertState `json:"alerts"`
	}{alerts})
}

func writeAPISuccess(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writeAPIError(w http.ResponseWriter, code int, typ string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": typ, "error": err.Error()})
}

// selectorParser parses match[] selectors.
var selectorParser = parser.NewParser(parser.Options{})

package configapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/promqlshape"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// ErrInvalidGroup is wrapped by every error of [ParseGroup]: the body is
// not one valid rule group.
var ErrInvalidGroup = errors.New("invalid rule group")

// ValidationError lists every problem of a rule group, each as rulefmt
// words it (the messages of `promtool check rules`).
type ValidationError struct {
	Errs []error
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns [ErrInvalidGroup] and the problems.
func (e *ValidationError) Unwrap() []error { return append([]error{ErrInvalidGroup}, e.Errs...) }

// ParseGroup decodes body, one rule group in YAML, and checks it as
// rulefmt checks the groups of a rule file: unknown fields, a missing
// name, bad labels, and each rule (record or alert, its expression, its
// templates). Expressions are parsed by p; before that, each is bounded by
// the tenant's expression limits l (nil: none), since the parser cannot
// be stopped. Errors wrap [ErrInvalidGroup]; line numbers are the body's.
func ParseGroup(body []byte, l *limits.Limits, t tenant.ID, p parser.Parser) (rulefmt.RuleGroup, error) {
	var g rulefmt.RuleGroup
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		if errors.Is(err, io.EOF) {
			return g, fmt.Errorf("%w: the body is empty, want one rule group in YAML", ErrInvalidGroup)
		}
		return g, fmt.Errorf("%w: decoding the YAML: %w", ErrInvalidGroup, err)
	}
	var more any
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return g, fmt.Errorf("%w: the body holds more than one YAML document, want one rule group", ErrInvalidGroup)
	}
	var node rulefmt.RuleGroupNode
	if err := yaml.Unmarshal(body, &node); err != nil {
		return g, fmt.Errorf("%w: decoding the YAML: %w", ErrInvalidGroup, err)
	}
	if len(node.Rules) != len(g.Rules) {
		// Both decode one document; a difference is a decoder bug.
		return g, fmt.Errorf("%w: %d rules decoded, %d positions", ErrInvalidGroup, len(g.Rules), len(node.Rules))
	}
	if errs := validate(&g, &node, l, t, p); len(errs) > 0 {
		return g, &ValidationError{Errs: errs}
	}
	return g, nil
}

// validate checks g as rulefmt.RuleGroups.Validate checks one group of a
// file, with the same messages, plus the expression bounds.
func validate(g *rulefmt.RuleGroup, node *rulefmt.RuleGroupNode, l *limits.Limits, t tenant.ID, p parser.Parser) []error {
	scheme := model.UTF8Validation
	var errs []error
	if g.Name == "" {
		errs = append(errs, fmt.Errorf("%d:%d: Groupname must not be empty", node.Line, node.Column))
	}
	for k, v := range g.Labels {
		if !scheme.IsValidLabelName(k) || k == model.MetricNameLabel {
			errs = append(errs, fmt.Errorf("invalid label name: %s", k))
		}
		if !model.LabelValue(v).IsValid() {
			errs = append(errs, fmt.Errorf("invalid label value: %s", v))
		}
	}
	for i, r := range g.Rules {
		name := r.Record
		if r.Alert != "" {
			name = r.Alert
		}
		if err := checkExprText(r.Expr, l, t); err != nil {
			errs = append(errs, fmt.Errorf("group %q, rule %d, %q: %w", g.Name, i+1, name, err))
			continue
		}
		for _, we := range r.Validate(node.Rules[i], scheme, p) {
			errs = append(errs, &rulefmt.Error{Group: g.Name, Rule: i + 1, RuleName: name, Err: we})
		}
	}
	return errs
}

// checkLimits checks g against the tenant's rule limits; existing is how
// many groups the tenant has besides g.
func checkLimits(g *rulefmt.RuleGroup, existing int, l *limits.Limits, t tenant.ID) error {
	var errs []error
	if limit := l.RulerMaxRulesPerRuleGroup; limit > 0 && len(g.Rules) > limit {
		errs = append(errs, fmt.Errorf("group %q has %d rules, over the limit of %d rules per group of tenant %q (-ruler.max-rules-per-rule-group)", g.Name, len(g.Rules), limit, t))
	}
	if least := time.Duration(l.RulerMinEvaluationInterval); least > 0 && g.Interval != 0 && time.Duration(g.Interval) < least {
		errs = append(errs, fmt.Errorf("group %q has interval %s, under the minimum evaluation interval %s of tenant %q (-ruler.min-evaluation-interval)", g.Name, g.Interval, model.Duration(least), t))
	}
	if limit := l.RulerMaxRuleGroupsPerTenant; limit > 0 && existing+1 > limit {
		errs = append(errs, fmt.Errorf("tenant %q has %d rule groups, adding group %q would pass the limit of %d (-ruler.max-rule-groups-per-tenant)", t, existing, g.Name, limit))
	}
	return errors.Join(errs...)
}

// checkExprText bounds an expression before it is parsed: its length,
// tokens and nesting, with the tenant's query-expression limits. The
// parser's time grows with tokens × depth and cannot be cancelled.
func checkExprText(expr string, l *limits.Limits, t tenant.ID) error {
	if l == nil {
		return nil
	}
	if limit := l.MaxQueryExpressionSizeBytes; limit > 0 && len(expr) > limit {
		return fmt.Errorf("expression of %d bytes, over the limit of %d of tenant %q (-querier.max-query-expression-size-bytes)", len(expr), limit, t)
	}
	if l.MaxQueryExpressionTokens <= 0 && l.MaxQueryExpressionDepth <= 0 {
		return nil
	}
	shape := promqlshape.Scan(expr, l.MaxQueryExpressionTokens, l.MaxQueryExpressionDepth)
	if limit := l.MaxQueryExpressionTokens; limit > 0 && shape.Tokens > limit {
		return fmt.Errorf("expression of at least %d tokens, over the limit of %d of tenant %q (-querier.max-query-expression-tokens)", shape.Tokens, limit, t)
	}
	if limit := l.MaxQueryExpressionDepth; limit > 0 && shape.Depth > limit {
		return fmt.Errorf("expression nested at least %d deep, over the limit of %d of tenant %q (-querier.max-query-expression-depth; 1+1+1 nests 3 deep)", shape.Depth, limit, t)
	}
	return nil
}

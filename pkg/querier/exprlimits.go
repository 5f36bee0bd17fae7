package querier

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	v1 "github.com/prometheus/prometheus/web/api/v1"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/promqlshape"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// This file bounds what one query expression may cost before the engine
// runs it: its length, tokens and nesting before it is parsed (the parser
// takes no context and its time grows with tokens × depth), and the steps
// it asks the engine to evaluate once it is parsed (each evaluated step
// costs memory whatever the series count). It also hands the expression
// parsed for those checks to the engine, so a request is parsed once.

// queryLimitError is a query refused by a per-tenant limit before
// evaluation. The API answers it with 400 bad_data.
type queryLimitError struct {
	reason string // The limit's YAML key, the reason label of hearth_querier_queries_rejected_total.
	msg    string
}

func (e *queryLimitError) Error() string { return e.msg }

func limitErr(reason, flag string, actual, limit int64, id tenant.ID, hint string) *queryLimitError {
	p := actualPhrase[reason]
	return &queryLimitError{reason: reason, msg: fmt.Sprintf("the query %s %d, over the limit -%s=%d of tenant %q; %s (%s)", p.text, actual, flag, limit, id, hint, p.id)}
}

// actualPhrase is, per limit, how the message names the measured value, and
// the error ID (the section of docs/errors.md that explains the limit).
var actualPhrase = map[string]struct{ text, id string }{
	"max_query_expression_size_bytes": {"expression's length in bytes is", "err-hearth-max-query-expression-size-bytes"},
	"max_query_expression_tokens":     {"expression's token count is at least", "err-hearth-max-query-expression-tokens"},
	"max_query_expression_depth":      {"expression's nesting depth is at least", "err-hearth-max-query-expression-depth"},
	"max_subquery_steps":              {"has a subquery whose steps (range ÷ step) number", "err-hearth-max-subquery-steps"},
	"max_query_steps":                 {"would evaluate a number of steps (its own plus every subquery's over its widened range) of", "err-hearth-max-query-steps"},
}

// checkExprText applies the limits that need no parse: length, tokens and
// depth.
func checkExprText(qs string, l *limits.Limits, id tenant.ID) *queryLimitError {
	if l.MaxQueryExpressionSizeBytes > 0 && len(qs) > l.MaxQueryExpressionSizeBytes {
		return limitErr("max_query_expression_size_bytes", "querier.max-query-expression-size-bytes", int64(len(qs)), int64(l.MaxQueryExpressionSizeBytes), id, "shorten the expression")
	}
	if l.MaxQueryExpressionTokens <= 0 && l.MaxQueryExpressionDepth <= 0 {
		return nil
	}
	shape := promqlshape.Scan(qs, l.MaxQueryExpressionTokens, l.MaxQueryExpressionDepth)
	if l.MaxQueryExpressionTokens > 0 && shape.Tokens > l.MaxQueryExpressionTokens {
		return limitErr("max_query_expression_tokens", "querier.max-query-expression-tokens", int64(shape.Tokens), int64(l.MaxQueryExpressionTokens), id, "simplify the expression")
	}
	if l.MaxQueryExpressionDepth > 0 && shape.Depth > l.MaxQueryExpressionDepth {
		return limitErr("max_query_expression_depth", "querier.max-query-expression-depth", int64(shape.Depth), int64(l.MaxQueryExpressionDepth), id, "nest fewer parentheses, calls or chained operators (1+1+1 nests 3 deep)")
	}
	return nil
}

// stepCount is what a parsed expression asks the engine to evaluate.
type stepCount struct {
	// subquery is the most steps of one subquery: its range ÷ its step.
	subquery int64
	// total is every step the engine evaluates: the query's own plus, for
	// every subquery, its steps over the query's span widened by its range
	// and those of the subqueries around it (the engine evaluates a
	// subquery once over that span at its step, not once per outer step).
	total int64
}

// countSteps counts the steps of expr evaluated over span (end - start; 0
// for an instant query) at interval. defaultStep is the step of a
// subquery that names none. Counts saturate at math.MaxInt64.
func countSteps(expr parser.Expr, span, interval, defaultStep time.Duration) stepCount {
	var c stepCount
	c.total = 1
	if interval > 0 {
		c.total = addSat(int64(span/interval), 1)
	}
	parser.Inspect(expr, func(node parser.Node, path []parser.Node) error {
		sq, ok := node.(*parser.SubqueryExpr)
		if !ok {
			return nil
		}
		step := sq.Step
		if step <= 0 {
			step = defaultStep
		}
		step = max(step, time.Millisecond) // The engine's resolution.
		c.subquery = max(c.subquery, int64(sq.Range/step))
		// The span the engine evaluates this subquery over: the query's,
		// widened by the range of each enclosing subquery and its own; a
		// subquery with @ is evaluated over its own range only.
		evalSpan := int64(span)
		for _, p := range append(path, node) {
			outer, ok := p.(*parser.SubqueryExpr)
			if !ok {
				continue
			}
			if outer.Timestamp != nil || outer.StartOrEnd != 0 {
				evalSpan = 0
			}
			evalSpan = addSat(evalSpan, int64(outer.Range))
		}
		c.total = addSat(c.total, addSat(evalSpan/int64(step), 1))
		return nil
	})
	return c
}

func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// checkResolution refuses a step below the engine's resolution of 1ms,
// which it would round to 0 and divide by.
func checkResolution(expr parser.Expr, interval time.Duration) error {
	if interval > 0 && interval < time.Millisecond {
		return fmt.Errorf("the query's step %s is below the engine's resolution of 1ms", interval)
	}
	var err error
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if sq, ok := node.(*parser.SubqueryExpr); ok && sq.Step > 0 && sq.Step < time.Millisecond {
			err = fmt.Errorf("the subquery step %s is below the engine's resolution of 1ms", sq.Step)
		}
		return err
	})
	return err
}

// checkSteps applies the step limits to a parsed expression evaluated over
// span at interval.
func checkSteps(expr parser.Expr, span, interval, defaultStep time.Duration, l *limits.Limits, id tenant.ID) *queryLimitError {
	if l.MaxSubquerySteps <= 0 && l.MaxQuerySteps <= 0 {
		return nil
	}
	c := countSteps(expr, span, interval, defaultStep)
	if l.MaxSubquerySteps > 0 && c.subquery > int64(l.MaxSubquerySteps) {
		return limitErr("max_subquery_steps", "querier.max-subquery-steps", c.subquery, int64(l.MaxSubquerySteps), id, "increase the subquery's step or shorten its range")
	}
	if l.MaxQuerySteps > 0 && c.total > int64(l.MaxQuerySteps) {
		return limitErr("max_query_steps", "querier.max-query-steps", c.total, int64(l.MaxQuerySteps), id, "increase the query's or its subqueries' step, or shorten the time range")
	}
	return nil
}

// exprGuard refuses, before Prometheus's handlers run, a request whose
// "query" expression is too long, has too many tokens or nests too deep
// for its tenant (see [checkExprText]), with Prometheus's 400 bad_data.
// It serves the endpoints that parse an expression: query, query_range,
// query_exemplars, format_query and parse_query.
type exprGuard struct {
	next     http.Handler
	limits   Limits
	rejected *prometheus.CounterVec
	logger   *slog.Logger
}

func (g *exprGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if g.limits == nil {
		g.next.ServeHTTP(w, r)
		return
	}
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		g.next.ServeHTTP(w, r)
		return
	}
	if lerr := checkExprText(r.FormValue("query"), g.limits.For(id), id); lerr != nil {
		g.rejected.WithLabelValues(lerr.reason).Inc()
		writeAPIError(w, http.StatusBadRequest, "bad_data", lerr.msg, g.logger, id)
		return
	}
	g.next.ServeHTTP(w, r)
}

// writeAPIError answers with Prometheus's error JSON.
func writeAPIError(w http.ResponseWriter, status int, errorType, msg string, logger *slog.Logger, id tenant.ID) {
	b, err := json.Marshal(&v1.Response{Status: "error", ErrorType: errorType, Error: msg})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		logger.Debug("Writing API error failed", "tenant", id, "err", err)
	}
}

// handoffParser is the engine's parser. It hands the engine an expression
// already parsed for the request's limit checks (see [tenantEngine]), so
// that the expression is parsed once, and parses anything else (the
// ruler's queries) itself. Each handed-over expression goes to one query
// only: the engine rewrites the tree it is given.
type handoffParser struct {
	parser.Parser
	mu      sync.Mutex
	pending map[string][]parser.Expr
}

func newHandoffParser() *handoffParser {
	return &handoffParser{Parser: parser.NewParser(parser.Options{}), pending: map[string][]parser.Expr{}}
}

// give makes expr the result of the next ParseExpr(qs) until the returned
// function takes it back, if it was not used by then.
func (p *handoffParser) give(qs string, expr parser.Expr) (takeBack func()) {
	p.mu.Lock()
	p.pending[qs] = append(p.pending[qs], expr)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		exprs := p.pending[qs]
		for i, e := range exprs {
			if e == expr {
				exprs = append(exprs[:i], exprs[i+1:]...)
				break
			}
		}
		if len(exprs) == 0 {
			delete(p.pending, qs)
		} else {
			p.pending[qs] = exprs
		}
	}
}

// ParseExpr returns an expression handed over for qs, or parses qs.
func (p *handoffParser) ParseExpr(qs string) (parser.Expr, error) {
	p.mu.Lock()
	if exprs := p.pending[qs]; len(exprs) > 0 {
		expr := exprs[len(exprs)-1]
		if len(exprs) == 1 {
			delete(p.pending, qs)
		} else {
			p.pending[qs] = exprs[:len(exprs)-1]
		}
		p.mu.Unlock()
		return expr, nil
	}
	p.mu.Unlock()
	return p.Parser.ParseExpr(qs)
}

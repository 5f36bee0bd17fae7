package queryrange

import (
	"fmt"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Labels of the sharding scheme.
const (
	// ShardLabel is the matcher every selector of a shard sub-query gets:
	// __query_shard__="<i+1>_of_<N>" selects the series whose
	// labels.StableHash modulo N is i (Mimir's format, 1-based).
	ShardLabel = "__query_shard__"
	// embeddedName is the metric name of the selectors standing for a
	// sharded sub-expression in the expression the frontend evaluates.
	embeddedName = "__hearth_sharded__"
	// embeddedLabel names which sharded sub-expression a selector stands
	// for.
	embeddedLabel = "__hearth_embedded__"
	// shardIndexLabel keeps apart the partial results of different shards
	// that have the same labels (sum by (x) in shard 1 and in shard 2); the
	// outer aggregation drops it.
	shardIndexLabel = "__hearth_shard_index__"
)

// FormatShard returns the value of the shard matcher for shard index (0-based)
// of total.
func FormatShard(index, total int) string {
	return strconv.Itoa(index+1) + "_of_" + strconv.Itoa(total)
}

// embedded is one sharded sub-expression: each shard evaluates inner with
// the shard matcher added to every selector.
type embedded struct {
	inner parser.Expr
	// keepLabels: the partial results of different shards never share a
	// label set (topk, bottomk keep the input series'), so no shard index
	// label is added.
	keepLabels bool
	// unsharded parts are evaluated once, without a shard matcher.
	unsharded bool
}

// shardMapping is a rewritten expression and what its embedded selectors
// stand for.
type shardMapping struct {
	outer    parser.Expr
	embedded []embedded
}

// mapShardable rewrites every shardable aggregation of expr (outside
// subqueries) into an aggregation of the partial results of its shards. It
// returns nil when nothing in expr is shardable. expr is modified.
func mapShardable(expr parser.Expr) *shardMapping {
	m := &shardMapping{}
	out := m.mapExpr(expr)
	if len(m.embedded) == 0 {
		return nil
	}
	m.outer = m.embedRest(out)
	return m
}

// embedRest embeds, unsharded, every part of the rewritten expression that
// still reads data (a selector outside the sharded aggregations): the
// frontend's engine has only partial results to read. A vector-valued part
// is embedded as it is; a scalar-valued one as vector(part), read back
// through scalar(), which gives the same value.
func (m *shardMapping) embedRest(e parser.Expr) parser.Expr {
	reads, sharded := readsData(e)
	if !reads {
		return e
	}
	if !sharded {
		switch e.Type() {
		case parser.ValueTypeVector:
			return m.embedWhole(e)
		case parser.ValueTypeScalar:
			vec := &parser.Call{Func: parser.Functions["vector"], Args: parser.Expressions{e}}
			return &parser.Call{Func: parser.Functions["scalar"], Args: parser.Expressions{m.embedWhole(vec)}}
		}
	}
	switch n := e.(type) {
	case *parser.ParenExpr:
		n.Expr = m.embedRest(n.Expr)
	case *parser.UnaryExpr:
		n.Expr = m.embedRest(n.Expr)
	case *parser.BinaryExpr:
		n.LHS = m.embedRest(n.LHS)
		n.RHS = m.embedRest(n.RHS)
	case *parser.Call:
		for i, a := range n.Args {
			n.Args[i] = m.embedRest(a)
		}
	case *parser.AggregateExpr:
		n.Expr = m.embedRest(n.Expr)
		if n.Param != nil {
			n.Param = m.embedRest(n.Param)
		}
	}
	return e
}

func (m *shardMapping) embedWhole(e parser.Expr) parser.Expr {
	id := len(m.embedded)
	m.embedded = append(m.embedded, embedded{inner: e, keepLabels: true, unsharded: true})
	return embeddedSelector(id)
}

// readsData reports whether e has a selector of stored data, and whether it
// has an embedded selector.
func readsData(e parser.Expr) (reads, sharded bool) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == embeddedName {
				sharded = true
			} else {
				reads = true
			}
		}
		return nil
	})
	return reads, sharded
}

func (m *shardMapping) mapExpr(e parser.Expr) parser.Expr {
	switch n := e.(type) {
	case *parser.AggregateExpr:
		if mapped := m.mapAggregate(n); mapped != nil {
			return mapped
		}
		n.Expr = m.mapExpr(n.Expr)
		return n
	case *parser.ParenExpr:
		n.Expr = m.mapExpr(n.Expr)
		return n
	case *parser.UnaryExpr:
		n.Expr = m.mapExpr(n.Expr)
		return n
	case *parser.BinaryExpr:
		n.LHS = m.mapExpr(n.LHS)
		n.RHS = m.mapExpr(n.RHS)
		return n
	case *parser.Call:
		for i, a := range n.Args {
			n.Args[i] = m.mapExpr(a)
		}
		return n
	}
	// Selectors, literals, subqueries (an aggregation inside a subquery is
	// evaluated at the subquery's steps, not the query's).
	return e
}

// mapAggregate returns the rewritten aggregation, or nil when a is not
// shardable.
func (m *shardMapping) mapAggregate(a *parser.AggregateExpr) parser.Expr {
	if !shardSafe(a.Expr) {
		return nil
	}
	switch a.Op {
	case parser.SUM, parser.MIN, parser.MAX, parser.GROUP:
		return m.combine(a.Op, a, a)
	case parser.COUNT:
		return m.combine(parser.SUM, a, a)
	case parser.AVG:
		// The mean of the shards' means weighted by their counts: a sum of
		// the values (then divided) could overflow where Prometheus's
		// running mean does not.
		avg := m.embedPartial(&parser.AggregateExpr{Op: parser.AVG, Expr: a.Expr, Grouping: a.Grouping, Without: a.Without})
		count := m.embedPartial(&parser.AggregateExpr{Op: parser.COUNT, Expr: a.Expr, Grouping: a.Grouping, Without: a.Without})
		withoutShard := []string{shardIndexLabel}
		weights := &parser.BinaryExpr{
			Op:  parser.DIV,
			LHS: count,
			RHS: &parser.AggregateExpr{Op: parser.SUM, Expr: embeddedSelector(m.lastID()), Grouping: withoutShard, Without: true},
			VectorMatching: &parser.VectorMatching{
				Card:           parser.CardManyToOne,
				MatchingLabels: withoutShard,
			},
		}
		return &parser.AggregateExpr{
			Op: parser.SUM,
			Expr: &parser.BinaryExpr{
				Op:             parser.MUL,
				LHS:            avg,
				RHS:            &parser.ParenExpr{Expr: weights},
				VectorMatching: &parser.VectorMatching{Card: parser.CardOneToOne},
			},
			Grouping: withoutShard,
			Without:  true,
		}
	case parser.TOPK, parser.BOTTOMK:
		if _, ok := unparen(a.Param).(*parser.NumberLiteral); !ok {
			return nil
		}
		id := len(m.embedded)
		m.embedded = append(m.embedded, embedded{inner: a, keepLabels: true})
		return &parser.AggregateExpr{Op: a.Op, Param: a.Param, Expr: embeddedSelector(id), Grouping: a.Grouping, Without: a.Without}
	}
	return nil
}

// combine embeds inner and aggregates its shards' partial results with op,
// grouped as like is.
func (m *shardMapping) combine(op parser.ItemType, inner, like *parser.AggregateExpr) parser.Expr {
	id := len(m.embedded)
	m.embedded = append(m.embedded, embedded{inner: inner})
	grouping := append([]string(nil), like.Grouping...)
	if like.Without {
		grouping = append(grouping, shardIndexLabel)
	}
	return &parser.AggregateExpr{Op: op, Expr: embeddedSelector(id), Grouping: grouping, Without: like.Without}
}

// embedPartial embeds a sharded aggregation whose partial results carry
// the shard index label.
func (m *shardMapping) embedPartial(inner parser.Expr) *parser.VectorSelector {
	id := len(m.embedded)
	m.embedded = append(m.embedded, embedded{inner: inner})
	return embeddedSelector(id)
}

func (m *shardMapping) lastID() int { return len(m.embedded) - 1 }

// subQueries is how many sub-queries the mapping sends for total shards.
func (m *shardMapping) subQueries(total int) int {
	n := 0
	for _, e := range m.embedded {
		if e.unsharded {
			n++
		} else {
			n += total
		}
	}
	return n
}

func embeddedSelector(id int) *parser.VectorSelector {
	return &parser.VectorSelector{
		Name: embeddedName,
		LabelMatchers: []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, model.MetricNameLabel, embeddedName),
			labels.MustNewMatcher(labels.MatchEqual, embeddedLabel, strconv.Itoa(id)),
		},
	}
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// perSeriesFuncs map each input series to at most one output series by
// itself alone, so they commute with selecting a shard of the series.
var perSeriesFuncs = map[string]bool{
	"rate": true, "increase": true, "irate": true, "delta": true, "idelta": true, "deriv": true,
	"predict_linear": true, "resets": true, "changes": true,
	"avg_over_time": true, "sum_over_time": true, "count_over_time": true, "min_over_time": true,
	"max_over_time": true, "last_over_time": true, "present_over_time": true, "quantile_over_time": true,
	"stddev_over_time": true, "stdvar_over_time": true,
	"abs": true, "ceil": true, "floor": true, "round": true, "exp": true, "ln": true, "log2": true,
	"log10": true, "sqrt": true, "sgn": true, "clamp": true, "clamp_min": true, "clamp_max": true,
	"histogram_count": true, "histogram_sum": true, "histogram_avg": true,
	"histogram_stddev": true, "histogram_stdvar": true, "timestamp": true,
}

// shardSafe reports whether e maps each series it selects to at most one
// result series that depends on that series alone: then evaluating e over
// each shard of the series and taking the union is evaluating e. Every
// selector must name its metric: a function that drops the name could
// otherwise merge two metrics' series into one label set, which the engine
// refuses unsharded but might not see within one shard.
func shardSafe(e parser.Expr) bool {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return n.Name != "" && n.Name != embeddedName
	case *parser.MatrixSelector:
		return shardSafe(n.VectorSelector)
	case *parser.ParenExpr:
		return shardSafe(n.Expr)
	case *parser.UnaryExpr:
		return shardSafe(n.Expr)
	case *parser.SubqueryExpr:
		return shardSafe(n.Expr)
	case *parser.NumberLiteral, *parser.StringLiteral:
		return true
	case *parser.Call:
		if !perSeriesFuncs[n.Func.Name] {
			return false
		}
		vectors := 0
		for _, a := range n.Args {
			switch unparen(a).(type) {
			case *parser.NumberLiteral, *parser.StringLiteral:
				continue
			}
			if a.Type() != parser.ValueTypeVector && a.Type() != parser.ValueTypeMatrix {
				return false
			}
			if !shardSafe(a) {
				return false
			}
			vectors++
		}
		return vectors == 1
	case *parser.BinaryExpr:
		_, lnum := unparen(n.LHS).(*parser.NumberLiteral)
		_, rnum := unparen(n.RHS).(*parser.NumberLiteral)
		switch {
		case lnum && !rnum:
			return shardSafe(n.RHS)
		case rnum && !lnum:
			return shardSafe(n.LHS)
		}
		return false
	}
	return false
}

// shardQuery returns the text of inner for one shard: the shard matcher
// added to every selector.
func shardQuery(p parser.Parser, inner parser.Expr, index, total int) (string, error) {
	c, err := p.ParseExpr(inner.String())
	if err != nil {
		return "", fmt.Errorf("parsing a sharded sub-expression back: %w", err)
	}
	m := labels.MustNewMatcher(labels.MatchEqual, ShardLabel, FormatShard(index, total))
	parser.Inspect(c, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			vs.LabelMatchers = append(vs.LabelMatchers, m)
		}
		return nil
	})
	return c.String(), nil
}

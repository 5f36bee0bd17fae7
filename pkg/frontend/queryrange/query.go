package queryrange

import (
	"github.com/prometheus/prometheus/promql/parser"
)

// queryInfo is what the middlewares need to know about an expression.
type queryInfo struct {
	// dependsOnRange is set when the expression reads the query's range
	// (a range() duration): splitting or caching would change it.
	dependsOnRange bool
	// negativeOffset is set for any negative offset.
	negativeOffset bool
	// maxAt is the latest @ timestamp, in milliseconds; hasAt whether any.
	maxAt int64
	hasAt bool
}

// rewriteAt replaces @ start() and @ end() by the absolute times of the
// request, so a split or sharded sub-request keeps the original's meaning.
// It reports whether anything changed.
func rewriteAt(expr parser.Expr, start, end int64) bool {
	changed := false
	fix := func(soe *parser.ItemType, ts **int64) {
		switch *soe {
		case parser.START:
			t := start
			*ts, *soe, changed = &t, 0, true
		case parser.END:
			t := end
			*ts, *soe, changed = &t, 0, true
		}
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			fix(&n.StartOrEnd, &n.Timestamp)
		case *parser.SubqueryExpr:
			fix(&n.StartOrEnd, &n.Timestamp)
		}
		return nil
	})
	return changed
}

// analyse walks expr once.
func analyse(expr parser.Expr) queryInfo {
	var qi queryInfo
	at := func(ts *int64) {
		if ts != nil && (!qi.hasAt || *ts > qi.maxAt) {
			qi.maxAt, qi.hasAt = *ts, true
		}
	}
	dur := func(ds ...*parser.DurationExpr) {
		for _, d := range ds {
			if d != nil && !staticDuration(d) {
				qi.dependsOnRange = true
			}
		}
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			at(n.Timestamp)
			dur(n.OriginalOffsetExpr)
			if n.OriginalOffset < 0 {
				qi.negativeOffset = true
			}
		case *parser.MatrixSelector:
			dur(n.RangeExpr)
		case *parser.SubqueryExpr:
			at(n.Timestamp)
			dur(n.RangeExpr, n.OriginalOffsetExpr, n.StepExpr)
			if n.OriginalOffset < 0 {
				qi.negativeOffset = true
			}
		case *parser.DurationExpr:
			dur(n)
		}
		return nil
	})
	if !qi.dependsOnRange {
		// An offset written as an expression is known only once the engine
		// evaluates it: a negative one cannot be ruled out.
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			switch n := n.(type) {
			case *parser.VectorSelector:
				if n.OriginalOffsetExpr != nil {
					qi.negativeOffset = true
				}
			case *parser.SubqueryExpr:
				if n.OriginalOffsetExpr != nil {
					qi.negativeOffset = true
				}
			}
			return nil
		})
	}
	return qi
}

// staticDuration reports whether a duration expression is the same for any
// time range of the query: no range(), start() or end() in it.
func staticDuration(d *parser.DurationExpr) bool {
	if d == nil {
		return true
	}
	switch d.Op {
	case parser.RANGE, parser.START, parser.END:
		return false
	}
	for _, side := range []parser.Expr{d.LHS, d.RHS} {
		switch s := side.(type) {
		case *parser.DurationExpr:
			if !staticDuration(s) {
				return false
			}
		case *parser.ParenExpr:
			if inner, ok := s.Expr.(*parser.DurationExpr); ok && !staticDuration(inner) {
				return false
			}
		}
	}
	return true
}

package promqlshape

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestScan(t *testing.T) {
	tests := map[string]struct {
		expr                string
		maxTokens, maxDepth int
		want                Shape
	}{
		"one number":                            {expr: "1", want: Shape{Tokens: 1, Depth: 1}},
		"one selector":                          {expr: "up", want: Shape{Tokens: 1, Depth: 1}},
		"chained operators nest":                {expr: "1+1+1", want: Shape{Tokens: 5, Depth: 3}},
		"matchers add no depth":                 {expr: `sum(rate(x{a="b", c=~"d"}[5m]))`, want: Shape{Tokens: 19, Depth: 4}},
		"parentheses above operators":           {expr: "((1))+1+1", want: Shape{Tokens: 9, Depth: 5}},
		"unclosed parentheses count":            {expr: "(((1", want: Shape{Tokens: 4, Depth: 4}},
		"a stray parenthesis is a lexing error": {expr: "1)+1", want: Shape{Tokens: 1, Depth: 1}},
		"empty":                                 {expr: "", want: Shape{Tokens: 0, Depth: 1}},
		"a lexing error stops the scan":         {expr: "1 + `", want: Shape{Tokens: 2, Depth: 2}},
		"stops past the token bound":            {expr: "1+1+1+1+1", maxTokens: 3, want: Shape{Tokens: 4, Depth: 3}},
		"stops past the depth bound":            {expr: "((((((1))))))", maxDepth: 3, want: Shape{Tokens: 3, Depth: 4}},
		"within both bounds scans it all":       {expr: "1+1+1", maxTokens: 5, maxDepth: 3, want: Shape{Tokens: 5, Depth: 3}},
		"offset and @ are chained nodes":        {expr: "up offset 5m @ 100", want: Shape{Tokens: 5, Depth: 3}},
		"a range bracket is a node":             {expr: "rate(x[5m])", want: Shape{Tokens: 7, Depth: 3}},
		"operators inside braces are none":      {expr: `x{a=~"b|c", d!="(("}`, want: Shape{Tokens: 10, Depth: 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, Scan(tc.expr, tc.maxTokens, tc.maxDepth))
		})
	}
}

// TestScanBoundsTheTree: the depth Scan gives is never below the depth of
// the tree the parser builds.
func TestScanBoundsTheTree(t *testing.T) {
	for _, expr := range []string{
		"1", "1+1+1", "(1+1)+1+1+1", "1+(1+(1+(1)))", "-(-(-1))",
		`sum by (job) (rate(up{job=~"a|b", x!="(("}[5m])) / on (job) group_left count(up) > 0.5`,
		"max_over_time(rate(x[5m] @ end())[1h:1m] offset 5m)",
		"a or b and c unless d * e ^ f ^ g",
		"histogram_quantile(0.9, sum by (le) (rate(h_bucket[5m])))",
		`label_replace(up, "a", "$1", "b", "(.*)")`,
	} {
		t.Run(expr, func(t *testing.T) {
			parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
			require.NoError(t, err)
			depth := 0
			parser.Inspect(parsed, func(_ parser.Node, path []parser.Node) error {
				depth = max(depth, len(path)+1)
				return nil
			})
			require.GreaterOrEqual(t, Scan(expr, 0, 0).Depth, depth)
		})
	}
}

// FuzzScan: no input panics, and a bound never makes the scan report more
// than the unbounded scan.
func FuzzScan(f *testing.F) {
	for _, seed := range []string{"1+1", "sum(rate(x[5m]))", "(((1", "1)", `{a="("}`, "x[1h:1m] @ end()"} {
		f.Add(seed, 3, 3)
	}
	f.Fuzz(func(t *testing.T, expr string, maxTokens, maxDepth int) {
		full := Scan(expr, 0, 0)
		bounded := Scan(expr, maxTokens, maxDepth)
		require.LessOrEqual(t, bounded.Tokens, full.Tokens)
		require.LessOrEqual(t, bounded.Depth, full.Depth)
	})
}

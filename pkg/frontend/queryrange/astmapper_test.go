package queryrange

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestMapShardable(t *testing.T) {
	const (
		e0 = `__hearth_sharded__{__hearth_embedded__="0"}`
		e1 = `__hearth_sharded__{__hearth_embedded__="1"}`
	)
	for name, tc := range map[string]struct {
		query    string
		outer    string // empty: not sharded
		embedded []string
	}{
		"sum":                           {query: "sum(rate(x[5m]))", outer: "sum(" + e0 + ")", embedded: []string{"sum(rate(x[5m]))"}},
		"sum without":                   {query: "sum without (a) (x)", outer: "sum without (a, __hearth_shard_index__) (" + e0 + ")", embedded: []string{"sum without (a) (x)"}},
		"count is summed":               {query: "count by (a) (x > 1)", outer: "sum by (a) (" + e0 + ")", embedded: []string{"count by (a) (x > 1)"}},
		"topk keeps labels":             {query: "topk(3, x)", outer: "topk(3, " + e0 + ")", embedded: []string{"topk(3, x)"}},
		"histogram_quantile over a sum": {query: "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))", outer: "histogram_quantile(0.9, sum by (le) (" + e0 + "))", embedded: []string{"sum by (le) (rate(x_bucket[5m]))"}},
		"selector beside a sum is embedded whole": {query: "x / on (a) group_left sum by (a) (x)", outer: e1 + " / on (a) group_left () sum by (a) (" + e0 + ")", embedded: []string{"sum by (a) (x)", "x"}},
		"nothing shardable":                       {query: "rate(x[5m])"},
		"aggregation in a subquery":               {query: "max_over_time(sum(x)[1h:1m])"},
		"cross-series inside":                     {query: "sum(x / y)"},
		"topk with a computed k":                  {query: "topk(scalar(y), x)"},
		"no metric name":                          {query: `sum(rate({__name__=~"x|y"}[5m]))`},
		"label_replace inside":                    {query: `sum(label_replace(x, "a", "b", "c", "d"))`},
		"quantile is not shardable":               {query: "quantile(0.5, x)"},
		"but its input may be":                    {query: "quantile(0.5, sum by (a) (x))", outer: "quantile(0.5, sum by (a) (" + e0 + "))", embedded: []string{"sum by (a) (x)"}},
	} {
		t.Run(name, func(t *testing.T) {
			expr, err := parser.NewParser(parser.Options{}).ParseExpr(tc.query)
			require.NoError(t, err)
			m := mapShardable(expr)
			if tc.outer == "" {
				require.Nil(t, m)
				return
			}
			require.NotNil(t, m)
			require.Equal(t, tc.outer, m.outer.String())
			var got []string
			for _, e := range m.embedded {
				got = append(got, e.inner.String())
			}
			require.Equal(t, tc.embedded, got)
			_, err = parser.NewParser(parser.Options{}).ParseExpr(m.outer.String())
			require.NoError(t, err, "the outer expression parses back")
		})
	}
}

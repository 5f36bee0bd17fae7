package configapi

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/limits"
)

func defaultLimits(t testing.TB) *limits.Limits {
	t.Helper()
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("limits", flag.PanicOnError))
	return &l
}

// The properties of the body parser on any input: no panic; what it
// accepts is a group that encodes and parses back to itself; what it
// refuses wraps ErrInvalidGroup.
func FuzzParseGroup(f *testing.F) {
	for _, seed := range []string{
		"name: g\nrules:\n  - record: a:b\n    expr: sum(rate(x[5m]))\n",
		"name: g\ninterval: 30s\nlabels: {team: a}\nrules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n    annotations: {summary: '{{ $labels.job }}'}\n",
		"name: g\nrules: [{record: r, expr: '1', labels: {a: b}}]\nquery_offset: 1m\nlimit: 10\n",
		"name: ''\n", "{", "- a", "name: g\nrules:\n  - record: r\n    expr: (((1\n", "a: &a [*a]",
	} {
		f.Add([]byte(seed))
	}
	l := defaultLimits(f)
	p := parser.NewParser(parser.Options{})
	f.Fuzz(func(t *testing.T, body []byte) {
		g, err := ParseGroup(body, l, "t", p)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidGroup)
			return
		}
		out, err := yaml.Marshal(&g)
		require.NoError(t, err)
		again, err := ParseGroup(out, l, "t", p)
		require.NoError(t, err, "%s", out)
		require.Equal(t, normal(g), normal(again))
	})
}

// normal makes empty maps nil, as a YAML round trip does.
func normal(g rulefmt.RuleGroup) rulefmt.RuleGroup {
	if len(g.Labels) == 0 {
		g.Labels = nil
	}
	for i := range g.Rules {
		r := &g.Rules[i]
		if len(r.Labels) == 0 {
			r.Labels = nil
		}
		if len(r.Annotations) == 0 {
			r.Annotations = nil
		}
	}
	if len(g.Rules) == 0 {
		g.Rules = nil
	}
	return g
}

func TestValidationErrorUnwraps(t *testing.T) {
	_, err := ParseGroup([]byte("name: g\nrules:\n  - record: r\n    expr: up(\n"), nil, "t", parser.NewParser(parser.Options{}))
	require.ErrorIs(t, err, ErrInvalidGroup)
	var re *rulefmt.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, "g", re.Group)
	require.Equal(t, 1, re.Rule)
	require.True(t, strings.HasPrefix(err.Error(), `4:11: group "g", rule 1, "r": could not parse expression`), err.Error())
}

// BenchmarkParseGroup parses and validates a group of the default 20
// rules (10 recording, 10 alerting with templates).
func BenchmarkParseGroup(b *testing.B) {
	var body strings.Builder
	body.WriteString("name: g\ninterval: 1m\nrules:\n")
	for i := range 10 {
		fmt.Fprintf(&body, "  - record: job:x%d:rate5m\n    expr: sum by (job) (rate(x%d{env=\"prod\"}[5m]))\n", i, i)
		fmt.Fprintf(&body, "  - alert: High%d\n    expr: job:x%d:rate5m > 10\n    for: 5m\n    labels: {severity: page}\n    annotations: {summary: \"{{ $labels.job }} at {{ $value }}\"}\n", i, i)
	}
	l := defaultLimits(b)
	p := parser.NewParser(parser.Options{})
	in := []byte(body.String())
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseGroup(in, l, "t", p); err != nil {
			b.Fatal(err)
		}
	}
}

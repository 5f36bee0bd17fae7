package resultpb

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	v1 "github.com/prometheus/prometheus/web/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/resultpb/resultpbtest"
)

// fromPrometheusJSON is what a frontend decodes from Prometheus's own
// JSON of v: the reference the binary form must equal.
func fromPrometheusJSON(t testing.TB, v parser.Value, warnings, infos []string) *Result {
	t.Helper()
	body, err := v1.JSONCodec{}.Encode(&v1.Response{Status: "success", Data: &v1.QueryData{ResultType: v.Type(), Result: v}, Warnings: warnings, Infos: infos})
	require.NoError(t, err)
	var w struct {
		Data struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
		Infos    []string `json:"infos"`
	}
	require.NoError(t, json.Unmarshal(body, &w))
	res := &Result{ResultType: w.Data.ResultType, Warnings: w.Warnings, Infos: w.Infos}
	switch res.ResultType {
	case TypeMatrix:
		require.NoError(t, json.Unmarshal(w.Data.Result, &res.Matrix))
	case TypeVector:
		require.NoError(t, json.Unmarshal(w.Data.Result, &res.Vector))
	case TypeScalar:
		res.Scalar = &model.Scalar{}
		require.NoError(t, json.Unmarshal(w.Data.Result, res.Scalar))
	case TypeString:
		res.String = &model.String{}
		require.NoError(t, json.Unmarshal(w.Data.Result, res.String))
	}
	return res
}

// dump writes every value of r with its bits and every nil, so that two
// results dump the same only when they are the same.
func dump(r *Result) string {
	var b strings.Builder
	f := func(v model.FloatString) string { return fmt.Sprintf("%x", math.Float64bits(float64(v))) }
	metric := func(m model.Metric) {
		if m == nil {
			b.WriteString("nil-metric")
			return
		}
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, string(n))
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(&b, "%q=%q,", n, m[model.LabelName(n)])
		}
	}
	hist := func(h *model.SampleHistogram) {
		if h == nil {
			b.WriteString("nil-hist")
			return
		}
		fmt.Fprintf(&b, "h{%s %s %v", f(h.Count), f(h.Sum), h.Buckets == nil)
		for _, bk := range h.Buckets {
			fmt.Fprintf(&b, "[%d %s %s %s]", bk.Boundaries, f(bk.Lower), f(bk.Upper), f(bk.Count))
		}
		b.WriteString("}")
	}
	fmt.Fprintf(&b, "%s w=%q %v i=%q %v m=%v v=%v\n", r.ResultType, r.Warnings, r.Warnings == nil, r.Infos, r.Infos == nil, r.Matrix == nil, r.Vector == nil)
	for _, s := range r.Matrix {
		metric(s.Metric)
		fmt.Fprintf(&b, " values-nil=%v hists-nil=%v:", s.Values == nil, s.Histograms == nil)
		for _, p := range s.Values {
			fmt.Fprintf(&b, " %d/%s", p.Timestamp, f(model.FloatString(p.Value)))
		}
		for _, p := range s.Histograms {
			fmt.Fprintf(&b, " %d/", p.Timestamp)
			hist(p.Histogram)
		}
		b.WriteString("\n")
	}
	for _, s := range r.Vector {
		metric(s.Metric)
		fmt.Fprintf(&b, " %d/%s ", s.Timestamp, f(model.FloatString(s.Value)))
		if s.Histogram != nil {
			hist(s.Histogram)
		}
		b.WriteString("\n")
	}
	if r.Scalar != nil {
		fmt.Fprintf(&b, "scalar %d/%s\n", r.Scalar.Timestamp, f(model.FloatString(r.Scalar.Value)))
	}
	if r.String != nil {
		fmt.Fprintf(&b, "string %d/%q\n", r.String.Timestamp, r.String.Value)
	}
	return b.String()
}

// TestDecodeEqualsPrometheusJSON: for random results of every type, the
// binary form decodes to exactly what Prometheus's JSON decodes to.
func TestDecodeEqualsPrometheusJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	annotations := [][]string{nil, {"PromQL warning: something"}, {"a", "b <&>"}}
	for i := range 2000 {
		v := resultpbtest.RandomValue(r, false)
		warnings, infos := annotations[r.IntN(3)], annotations[r.IntN(3)]
		want := fromPrometheusJSON(t, v, warnings, infos)
		b, err := Append(nil, v, warnings, infos)
		require.NoError(t, err)
		got, err := Decode(b)
		require.NoError(t, err)
		require.Equal(t, dump(want), dump(got), "case %d: %v", i, v)
		if got.ResultType == TypeMatrix {
			// The model types' form, as the results cache stores them.
			again, err := Decode(AppendMatrix(nil, got.Matrix, got.Infos))
			require.NoError(t, err)
			got.Warnings = nil
			require.Equal(t, dump(got), dump(again), "case %d through AppendMatrix: %v", i, v)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"an unknown result type":    appendString(nil, fieldResultType, "table"),
		"no result type":            nil,
		"a truncated series":        append(appendString(nil, fieldResultType, TypeMatrix), 0x12, 0x05, 0x0a),
		"a label without its value": appendBytes(appendString(nil, fieldResultType, TypeMatrix), fieldSeries, appendString(nil, seriesLabels, "job")),
		"more timestamps than values": appendBytes(appendString(nil, fieldResultType, TypeMatrix), fieldSeries,
			appendBytes(nil, seriesT, []byte{2, 2})),
		"a vector sample without a value": appendBytes(appendString(nil, fieldResultType, TypeVector), fieldSeries, nil),
		"a scalar with a series":          appendBytes(appendString(nil, fieldResultType, TypeScalar), fieldSeries, nil),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(in)
			require.Error(t, err)
		})
	}
}

// FuzzDecode: no input panics the decoder, and what decodes re-encodes
// (through the model types back to Prometheus's) to the same result.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b, err := Append(nil, resultpbtest.RandomValue(r, false), []string{"w"}, nil)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Decode(data)
		if err != nil {
			return
		}
		again, err := Decode(reencode(t, res))
		require.NoError(t, err)
		require.Equal(t, dump(res), dump(again))
	})
}

// reencode encodes a decoded result again, through Prometheus's types.
func reencode(t *testing.T, res *Result) []byte {
	t.Helper()
	lbls := func(m model.Metric) labels.Labels {
		b := labels.NewScratchBuilder(len(m))
		for n, v := range m {
			b.Add(string(n), string(v))
		}
		b.Sort()
		return b.Labels()
	}
	hist := func(h *model.SampleHistogram) *histogram.FloatHistogram {
		// The buckets as custom ones: only what the wire carries matters.
		fh := &histogram.FloatHistogram{Schema: histogram.CustomBucketsSchema, Count: float64(h.Count), Sum: float64(h.Sum)}
		return fh
	}
	var v parser.Value
	switch res.ResultType {
	case TypeScalar:
		v = promql.Scalar{T: int64(res.Scalar.Timestamp), V: float64(res.Scalar.Value)}
	case TypeString:
		v = promql.String{T: int64(res.String.Timestamp), V: res.String.Value}
	case TypeVector:
		var vec promql.Vector
		for _, s := range res.Vector {
			smp := promql.Sample{Metric: lbls(s.Metric), T: int64(s.Timestamp), F: float64(s.Value)}
			if s.Histogram != nil {
				smp.H = hist(s.Histogram)
				smp.F = 0
			}
			vec = append(vec, smp)
		}
		v = vec
	case TypeMatrix:
		var m promql.Matrix
		for _, s := range res.Matrix {
			ps := promql.Series{Metric: lbls(s.Metric)}
			for _, p := range s.Values {
				ps.Floats = append(ps.Floats, promql.FPoint{T: int64(p.Timestamp), F: float64(p.Value)})
			}
			for _, p := range s.Histograms {
				ps.Histograms = append(ps.Histograms, promql.HPoint{T: int64(p.Timestamp), H: hist(p.Histogram)})
			}
			m = append(m, ps)
		}
		v = m
	}
	for _, s := range res.Matrix {
		for _, p := range s.Histograms {
			p.Histogram.Buckets = nil // not carried by reencode's histograms
		}
	}
	for _, s := range res.Vector {
		if s.Histogram != nil {
			s.Histogram.Buckets = nil
		}
	}
	b, err := Append(nil, v, res.Warnings, res.Infos)
	require.NoError(t, err)
	return b
}

package ingesterpb

import (
	"math"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

func TestMatchersRoundTrip(t *testing.T) {
	in := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "job", "api"),
		labels.MustNewMatcher(labels.MatchNotEqual, "env", ""),
		labels.MustNewMatcher(labels.MatchRegexp, "__name__", "up|down"),
		labels.MustNewMatcher(labels.MatchNotRegexp, "path", "/debug/.*"),
	}
	wire, err := FromLabelMatchers(in)
	require.NoError(t, err)
	out, err := ToLabelMatchers(wire)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		require.Equal(t, in[i].String(), out[i].String())
	}
}

func TestToLabelMatchersErrors(t *testing.T) {
	tests := map[string]struct {
		in      LabelMatcher
		wantErr string
	}{
		"bad regexp":   {in: LabelMatcher{Type: LabelMatcher_TYPE_RE, Name: "job", Value: "("}, wantErr: "matcher job"},
		"unknown type": {in: LabelMatcher{Type: 9, Name: "job"}, wantErr: "unknown type 9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ToLabelMatchers([]LabelMatcher{tc.in})
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestChunkEncodingRoundTrip(t *testing.T) {
	for _, e := range []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		w, err := FromChunkEncoding(e)
		require.NoError(t, err)
		back, err := w.ChunkEncoding()
		require.NoError(t, err)
		require.Equal(t, e, back)
	}
	_, err := FromChunkEncoding(chunkenc.EncNone)
	require.Error(t, err)
	_, err = Chunk_ENCODING_UNKNOWN.ChunkEncoding()
	require.Error(t, err)
}

func TestLabelsRoundTrip(t *testing.T) {
	tests := map[string]labels.Labels{
		"empty":  labels.EmptyLabels(),
		"one":    labels.FromStrings("__name__", "up"),
		"many":   labels.FromStrings("__name__", "http_requests_total", "job", "api", "status", "200"),
		"utf8":   labels.FromStrings("__name__", "température", "lieu", "cuisine ☕"),
		"dotted": labels.FromStrings("a.b", "x", "b", "y"),
	}
	for name, lset := range tests {
		t.Run(name, func(t *testing.T) {
			pairs := FromLabels(lset)
			require.Len(t, pairs, lset.Len())
			require.Equal(t, lset, ToLabels(pairs))
			require.Equal(t, pairs, AppendLabelPairs([]LabelPair{}, ToLabels(pairs)))
		})
	}
}

func TestBuildLabels(t *testing.T) {
	tests := map[string]struct {
		in        []LabelPair
		dropEmpty bool
		want      labels.Labels
	}{
		"unsorted": {
			in:   []LabelPair{{Name: "job", Value: "api"}, {Name: "__name__", Value: "up"}},
			want: labels.FromStrings("__name__", "up", "job", "api"),
		},
		"empty value kept": {
			in:   []LabelPair{{Name: "a", Value: ""}, {Name: "b", Value: "1"}},
			want: labels.New(labels.Label{Name: "a", Value: ""}, labels.Label{Name: "b", Value: "1"}),
		},
		"empty value dropped": {
			in:        []LabelPair{{Name: "b", Value: "1"}, {Name: "a", Value: ""}, {Name: "c", Value: "2"}},
			dropEmpty: true,
			want:      labels.FromStrings("b", "1", "c", "2"),
		},
		"empty first dropped, rest unsorted": {
			in:        []LabelPair{{Name: "z", Value: ""}, {Name: "c", Value: "2"}, {Name: "b", Value: "1"}},
			dropEmpty: true,
			want:      labels.FromStrings("b", "1", "c", "2"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b labels.ScratchBuilder
			b.Add("stale", "from before") // BuildLabels resets b.
			BuildLabels(&b, tc.in, tc.dropEmpty)
			require.Equal(t, tc.want, b.Labels())
		})
	}
}

func TestExemplarRoundTrip(t *testing.T) {
	tests := map[string]Exemplar{
		"labels":    {Labels: []LabelPair{{Name: "span_id", Value: "beef"}, {Name: "trace_id", Value: "cafe"}}, Value: 1.5, TimestampMs: 1000},
		"no labels": {Labels: []LabelPair{}, Value: -2, TimestampMs: -5},
		"stale NaN": {Labels: []LabelPair{{Name: "trace_id", Value: "x"}}, Value: math.Float64frombits(value.StaleNaN), TimestampMs: 7},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			var b labels.ScratchBuilder
			e := in.ToExemplar(&b)
			require.True(t, e.HasTs)
			back := FromExemplar(&e)
			want, err := in.Marshal()
			require.NoError(t, err)
			got, err := back.Marshal()
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	for v := range MetricMetadata_MetricType_name {
		in := MetricMetadata{Type: MetricMetadata_MetricType(v), MetricFamilyName: "http_requests_total", Help: "Requests.", Unit: "requests"}
		t.Run(in.Type.String(), func(t *testing.T) {
			md := in.ToMetadata()
			require.Equal(t, in, FromMetadata(in.MetricFamilyName, md))
		})
	}
	require.Equal(t, model.MetricTypeUnknown, MetricMetadata_MetricType(99).MetricType())
	require.Equal(t, MetricMetadata_METRIC_TYPE_UNKNOWN, FromMetricType("bogus"))
}

package distributor

import (
	"flag"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestValidateHistogramAllocs: validating a histogram views it through
// ingesterpb's aliasing conversions with the validator's reused span
// buffers, so once they are warm it allocates nothing, whatever the kind.
func TestValidateHistogramAllocs(t *testing.T) {
	spans := []ingesterpb.BucketSpan{{Offset: -1, Length: 2}, {Offset: 2, Length: 1}}
	tests := map[string]ingesterpb.Histogram{
		"integer": {
			Count: &ingesterpb.Histogram_CountInt{CountInt: 7}, ZeroCount: &ingesterpb.Histogram_ZeroCountInt{ZeroCountInt: 1},
			Sum: 3, PositiveSpans: spans, PositiveDeltas: []int64{1, 1, 0}, NegativeSpans: spans[:1], NegativeDeltas: []int64{1, -1},
		},
		"float": {
			Count: &ingesterpb.Histogram_CountFloat{CountFloat: 7}, ZeroCount: &ingesterpb.Histogram_ZeroCountFloat{ZeroCountFloat: 1},
			Sum: 3, PositiveSpans: spans, PositiveCounts: []float64{1, 2, 2}, NegativeSpans: spans[:1], NegativeCounts: []float64{1, 0},
		},
		"custom buckets": {
			Count: &ingesterpb.Histogram_CountInt{CountInt: 3}, ZeroCount: &ingesterpb.Histogram_ZeroCountInt{},
			Schema: -53, Sum: 3, PositiveSpans: []ingesterpb.BucketSpan{{Length: 2}}, PositiveDeltas: []int64{1, 1}, CustomValues: []float64{1, 2},
		},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			var v validator
			require.NoError(t, v.histogram(&h))
			require.Zero(t, testing.AllocsPerRun(100, func() {
				if err := v.histogram(&h); err != nil {
					panic(err)
				}
			}))
		})
	}
}

// TestValidateASCIILabels: a request whose handler vouches that its labels
// are ASCII skips only the UTF-8 checks; lengths, counts, empty names,
// duplicates and order are checked as for any request.
func TestValidateASCIILabels(t *testing.T) {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	l.MaxLabelNamesPerSeries = 4
	l.MaxLabelNameLength = 10
	l.MaxLabelValueLength = 10
	pair := func(kv ...string) []ingesterpb.LabelPair {
		var ls []ingesterpb.LabelPair
		for i := 0; i+1 < len(kv); i += 2 {
			ls = append(ls, ingesterpb.LabelPair{Name: kv[i], Value: kv[i+1]})
		}
		return ls
	}
	tests := map[string]struct {
		labels []ingesterpb.LabelPair
		want   string
	}{
		"valid":              {labels: pair("__name__", "up", "job", "j")},
		"unsorted is sorted": {labels: pair("job", "j", "__name__", "up")},
		"too many labels":    {labels: pair("__name__", "up", "a", "1", "b", "2", "c", "3", "d", "4"), want: ReasonMaxLabelNames},
		"name too long":      {labels: pair("__name__", "up", "a_very_long_name", "1"), want: ReasonLabelNameTooLong},
		"value too long":     {labels: pair("__name__", "up", "a", "a very long value"), want: ReasonLabelValueTooLong},
		"empty name":         {labels: pair("__name__", "up", "", "1"), want: ReasonInvalidLabelName},
		"empty metric name":  {labels: pair("__name__", "", "a", "1"), want: ReasonInvalidMetricName},
		"no metric name":     {labels: pair("a", "1"), want: ReasonMissingMetricName},
		"duplicate name":     {labels: pair("__name__", "up", "a", "1", "a", "2"), want: ReasonDuplicateLabelNames},
		"duplicate unsorted": {labels: pair("b", "1", "__name__", "up", "b", "2"), want: ReasonDuplicateLabelNames},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := validator{metrics: newMetrics(prometheus.NewRegistry())}
			v.reset("t", &l, time.Now(), &remotewrite.Request{ASCIILabels: true})
			require.Equal(t, tc.want, v.labels(tc.labels).reason)
		})
	}
	// Without the handler's word the UTF-8 checks run.
	var v validator
	v.reset("t", &l, time.Now(), &remotewrite.Request{})
	require.Equal(t, ReasonInvalidLabelValue, v.labels(pair("__name__", "up", "a", "\xff")).reason)
}

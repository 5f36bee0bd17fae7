package distributor

import (
	"testing"

	"github.com/stretchr/testify/require"

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

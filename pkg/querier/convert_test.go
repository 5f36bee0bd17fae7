package querier

import (
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Conversions between Prometheus's model and the ingester protocol, for the
// tests' push path and fake ingester.

func toPairs(lset labels.Labels) []ingesterpb.LabelPair { return ingesterpb.FromLabels(lset) }

func toProtoHistogram(t int64, h *histogram.Histogram, fh *histogram.FloatHistogram) ingesterpb.Histogram {
	if h != nil {
		return ingesterpb.FromHistogram(t, h)
	}
	return ingesterpb.FromFloatHistogram(t, fh)
}

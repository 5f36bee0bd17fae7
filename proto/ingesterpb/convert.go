package ingesterpb

import (
	"fmt"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Every conversion between the ingester's wire messages and Prometheus's
// types lives in this file and convert_histogram.go, written once for both
// ends of the ingester protocol. Unless its doc says otherwise, a result
// aliases the strings and slices of its input: wire messages decoded
// zero-copy alias the request buffer, so a caller that keeps a converted
// value past the request copies it.

var (
	matchTypeToWire = map[labels.MatchType]LabelMatcher_Type{
		labels.MatchEqual:     LabelMatcher_TYPE_EQ,
		labels.MatchNotEqual:  LabelMatcher_TYPE_NEQ,
		labels.MatchRegexp:    LabelMatcher_TYPE_RE,
		labels.MatchNotRegexp: LabelMatcher_TYPE_NRE,
	}
	matchTypeFromWire = map[LabelMatcher_Type]labels.MatchType{
		LabelMatcher_TYPE_EQ:  labels.MatchEqual,
		LabelMatcher_TYPE_NEQ: labels.MatchNotEqual,
		LabelMatcher_TYPE_RE:  labels.MatchRegexp,
		LabelMatcher_TYPE_NRE: labels.MatchNotRegexp,
	}
	encodingToWire = map[chunkenc.Encoding]Chunk_Encoding{
		chunkenc.EncXOR:            Chunk_ENCODING_XOR,
		chunkenc.EncHistogram:      Chunk_ENCODING_HISTOGRAM,
		chunkenc.EncFloatHistogram: Chunk_ENCODING_FLOAT_HISTOGRAM,
	}
	encodingFromWire = map[Chunk_Encoding]chunkenc.Encoding{
		Chunk_ENCODING_XOR:             chunkenc.EncXOR,
		Chunk_ENCODING_HISTOGRAM:       chunkenc.EncHistogram,
		Chunk_ENCODING_FLOAT_HISTOGRAM: chunkenc.EncFloatHistogram,
	}
)

// FromLabelMatchers converts Prometheus matchers to their wire form; names
// and values alias the matchers' strings.
func FromLabelMatchers(ms []*labels.Matcher) ([]LabelMatcher, error) {
	out := make([]LabelMatcher, 0, len(ms))
	for _, m := range ms {
		t, ok := matchTypeToWire[m.Type]
		if !ok {
			return nil, fmt.Errorf("matcher %s: unknown type %d", m.Name, m.Type)
		}
		out = append(out, LabelMatcher{Type: t, Name: m.Name, Value: m.Value})
	}
	return out, nil
}

// ToLabelMatchers converts wire matchers to Prometheus's, compiling
// regular expressions; the error names the bad matcher. The matchers'
// names and values alias in's strings: copy them to keep them past the
// request.
func ToLabelMatchers(in []LabelMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(in))
	for _, m := range in {
		t, ok := matchTypeFromWire[m.Type]
		if !ok {
			return nil, fmt.Errorf("matcher %s: unknown type %d", m.Name, m.Type)
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m.Name, err)
		}
		out = append(out, lm)
	}
	return out, nil
}

// FromChunkEncoding returns the wire form of a chunk encoding.
func FromChunkEncoding(e chunkenc.Encoding) (Chunk_Encoding, error) {
	if w, ok := encodingToWire[e]; ok {
		return w, nil
	}
	return Chunk_ENCODING_UNKNOWN, fmt.Errorf("chunk encoding %s has no wire form", e)
}

// ChunkEncoding returns the Prometheus encoding of a wire chunk.
func (e Chunk_Encoding) ChunkEncoding() (chunkenc.Encoding, error) {
	if c, ok := encodingFromWire[e]; ok {
		return c, nil
	}
	return chunkenc.EncNone, fmt.Errorf("unknown chunk encoding %d", e)
}

// FromLabels returns lset as wire label pairs in a new slice; the strings
// alias lset's.
func FromLabels(lset labels.Labels) []LabelPair {
	return AppendLabelPairs(make([]LabelPair, 0, lset.Len()), lset)
}

// AppendLabelPairs appends lset's labels to dst as wire pairs and returns
// it; the strings alias lset's. It allocates only when dst lacks room.
func AppendLabelPairs(dst []LabelPair, lset labels.Labels) []LabelPair {
	lset.Range(func(l labels.Label) {
		dst = append(dst, LabelPair{Name: l.Name, Value: l.Value})
	})
	return dst
}

// BuildLabels resets b to pairs, sorted by name, ready for b.Labels or
// b.Overwrite; it sorts only when pairs are not already strictly sorted.
// With dropEmpty a pair with an empty value is skipped (an empty value is
// an absent label). Whether the labels b then builds alias the pairs'
// strings depends on the labels implementation (they do with the default
// slice labels, not with stringlabels): copy them to keep them past the
// request.
func BuildLabels(b *labels.ScratchBuilder, pairs []LabelPair, dropEmpty bool) {
	b.Reset()
	sorted, n, prev := true, 0, ""
	for _, l := range pairs {
		if dropEmpty && l.Value == "" {
			continue
		}
		b.Add(l.Name, l.Value)
		sorted = sorted && (n == 0 || prev < l.Name)
		n, prev = n+1, l.Name
	}
	if !sorted {
		b.Sort()
	}
}

// ToLabels returns pairs as sorted labels, with [BuildLabels]'s aliasing.
func ToLabels(pairs []LabelPair) labels.Labels {
	var b labels.ScratchBuilder
	BuildLabels(&b, pairs, false)
	return b.Labels()
}

// ToExemplar converts m, building its labels with b (reset first); the
// result has a timestamp (HasTs) and its labels alias m's strings as
// [BuildLabels] says.
func (m *Exemplar) ToExemplar(b *labels.ScratchBuilder) exemplar.Exemplar {
	BuildLabels(b, m.Labels, false)
	return exemplar.Exemplar{Labels: b.Labels(), Value: m.Value, Ts: m.TimestampMs, HasTs: true}
}

// FromExemplar returns the wire form of e; its label strings alias e's.
func FromExemplar(e *exemplar.Exemplar) Exemplar {
	return Exemplar{Labels: FromLabels(e.Labels), Value: e.Value, TimestampMs: e.Ts}
}

var (
	metricTypeToWire = map[model.MetricType]MetricMetadata_MetricType{
		model.MetricTypeCounter:        MetricMetadata_METRIC_TYPE_COUNTER,
		model.MetricTypeGauge:          MetricMetadata_METRIC_TYPE_GAUGE,
		model.MetricTypeHistogram:      MetricMetadata_METRIC_TYPE_HISTOGRAM,
		model.MetricTypeGaugeHistogram: MetricMetadata_METRIC_TYPE_GAUGEHISTOGRAM,
		model.MetricTypeSummary:        MetricMetadata_METRIC_TYPE_SUMMARY,
		model.MetricTypeInfo:           MetricMetadata_METRIC_TYPE_INFO,
		model.MetricTypeStateset:       MetricMetadata_METRIC_TYPE_STATESET,
	}
	metricTypeFromWire = map[MetricMetadata_MetricType]model.MetricType{
		MetricMetadata_METRIC_TYPE_COUNTER:        model.MetricTypeCounter,
		MetricMetadata_METRIC_TYPE_GAUGE:          model.MetricTypeGauge,
		MetricMetadata_METRIC_TYPE_HISTOGRAM:      model.MetricTypeHistogram,
		MetricMetadata_METRIC_TYPE_GAUGEHISTOGRAM: model.MetricTypeGaugeHistogram,
		MetricMetadata_METRIC_TYPE_SUMMARY:        model.MetricTypeSummary,
		MetricMetadata_METRIC_TYPE_INFO:           model.MetricTypeInfo,
		MetricMetadata_METRIC_TYPE_STATESET:       model.MetricTypeStateset,
	}
)

// ToMetadata converts m (without its metric family name); the strings
// alias m's.
func (m *MetricMetadata) ToMetadata() metadata.Metadata {
	return metadata.Metadata{Type: m.Type.MetricType(), Help: m.Help, Unit: m.Unit}
}

// FromMetadata returns the wire form of md for the metric family name;
// the strings alias the arguments.
func FromMetadata(name string, md metadata.Metadata) MetricMetadata {
	return MetricMetadata{Type: FromMetricType(md.Type), MetricFamilyName: name, Help: md.Help, Unit: md.Unit}
}

// MetricType returns Prometheus's metric type; an unknown value is
// [model.MetricTypeUnknown].
func (t MetricMetadata_MetricType) MetricType() model.MetricType {
	if m, ok := metricTypeFromWire[t]; ok {
		return m
	}
	return model.MetricTypeUnknown
}

// FromMetricType returns the wire form of a metric type; an unknown one is
// MetricMetadata_METRIC_TYPE_UNKNOWN.
func FromMetricType(t model.MetricType) MetricMetadata_MetricType {
	return metricTypeToWire[t] // The zero value is METRIC_TYPE_UNKNOWN.
}

// The PushError reasons of metadata an ingester refused. The distributor
// tells a metadata refusal from a series' by these, not by the words of a
// reason: see [IsMetadataReason].
const (
	ReasonPerTenantMetadataLimit = "per_tenant_metadata_limit"
	ReasonPerMetricMetadataLimit = "per_metric_metadata_limit"
)

// IsMetadataReason reports whether a PushError with this reason refused
// metric metadata rather than series data.
func IsMetadataReason(reason string) bool {
	switch reason {
	case ReasonPerTenantMetadataLimit, ReasonPerMetricMetadataLimit:
		return true
	}
	return false
}

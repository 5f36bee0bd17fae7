package otlp

import (
	"encoding/binary"
	"fmt"
	"slices"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Reasons of hearth_discarded_samples_total for OTLP data refused before
// translation. Each counts the metric's data points (1 for a metric of
// unknown type, which has none).
const (
	ReasonDeltaTemporality   = "otlp_delta_temporality"
	ReasonInvalidTemporality = "otlp_invalid_temporality"
	ReasonUnknownMetricType  = "otlp_unknown_metric_type"
	// ReasonTranslation counts one per error of Prometheus's translator
	// (e.g. an attribute whose name translates to nothing): the points
	// it skipped are not known.
	ReasonTranslation = "otlp_translation_failed"
)

// refusal is data refused before translation.
type refusal struct {
	reason string
	points int
	// message names the first metric refused for the reason.
	message string
}

// planOptions are what [plan] needs from the tenant's limits.
type planOptions struct {
	allowDelta bool
	promoted   []string
	targetInfo bool
}

// planResult is what [plan] found.
type planResult struct {
	// points are the data points left to translate.
	points int
	// series, labels and bytes estimate the translated request: series,
	// label pairs, and label name and value bytes.
	series, labels, bytes int
	refused               []refusal
	// high ORs together every string translated labels are made of
	// ([highBits]): resource, scope and data point attributes, metric
	// names and units.
	high uint64
}

// asciiLabels says whether every string the translator makes labels of is
// ASCII: then so are the labels (it adds only ASCII of its own: fixed
// names, numbers, separators, hex IDs, JSON punctuation).
func (p *planResult) asciiLabels() bool { return p.high&highMask == 0 }

// refusedPoints is the sum of the refusals' points.
func (p *planResult) refusedPoints() int {
	n := 0
	for _, r := range p.refused {
		n += r.points
	}
	return n
}

func (p *planResult) refuse(reason string, points int, format string, args ...any) {
	for i := range p.refused {
		if p.refused[i].reason == reason {
			p.refused[i].points += points
			return
		}
	}
	p.refused = append(p.refused, refusal{reason: reason, points: points, message: fmt.Sprintf(format, args...)})
}

// Per-series labels the translator adds besides the data point's
// attributes: the metric name, job, instance, and le or quantile.
const (
	addedLabels     = 4
	addedLabelBytes = 64
	// nonStringAttrBytes estimates the length of a number or boolean
	// attribute's value.
	nonStringAttrBytes = 24
)

// plan removes from md the metrics Hearth refuses (recording why), and
// estimates what the rest translates to, before the translator allocates
// any of it. The estimate is an upper bound of the series and close to the
// label pairs and bytes Prometheus's translator makes; the caller refuses
// a request over the request limits whole ([Handler.checkSize]).
func plan(md pmetric.Metrics, o planOptions) planResult {
	var p planResult
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		// Job, instance, target_info and promoted labels.
		resLabels, resBytes, high := attrSize(res)
		p.high |= high
		promLabels, promBytes := promotedSize(res, o.promoted)
		points := 0
		sms := rm.ScopeMetrics()
		for j := range sms.Len() {
			sm := sms.At(j)
			scope := sm.Scope()
			_, _, high := attrSize(scope.Attributes())
			p.high |= high | highBits(scope.Name()) | highBits(scope.Version()) | highBits(sm.SchemaUrl())
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				n, keep := p.metric(m, o, promLabels, promBytes)
				if keep {
					points += n
				}
				return !keep
			})
		}
		if points > 0 && o.targetInfo {
			p.series++
			p.labels += resLabels + addedLabels
			p.bytes += resBytes + addedLabelBytes
		}
		p.points += points
	}
	return p
}

// metric estimates m's translation into p and says how many data points it
// has and whether it is kept.
func (p *planResult) metric(m pmetric.Metric, o planOptions, promLabels, promBytes int) (int, bool) {
	p.high |= highBits(m.Name()) | highBits(m.Unit())
	var temporality pmetric.AggregationTemporality
	hasTemporality := true
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for k := range dps.Len() {
			dp := dps.At(k)
			p.add(1, dp.Attributes(), dp.Exemplars(), promLabels, promBytes)
		}
		return dps.Len(), true
	case pmetric.MetricTypeSum:
		temporality = m.Sum().AggregationTemporality()
	case pmetric.MetricTypeHistogram:
		temporality = m.Histogram().AggregationTemporality()
	case pmetric.MetricTypeExponentialHistogram:
		temporality = m.ExponentialHistogram().AggregationTemporality()
	case pmetric.MetricTypeSummary:
		hasTemporality = false
	default:
		p.refuse(ReasonUnknownMetricType, 1, "metric %.200q has no known type (gauge, sum, histogram, exponential histogram or summary)", m.Name())
		return 0, false
	}
	n := dataPoints(m)
	if hasTemporality {
		switch temporality {
		case pmetric.AggregationTemporalityCumulative:
		case pmetric.AggregationTemporalityDelta:
			if !o.allowDelta {
				p.refuse(ReasonDeltaTemporality, n, "metric %.200q has delta temporality, which this tenant does not accept (otel_allow_delta_temporality); configure the exporter for cumulative temporality", m.Name())
				return n, false
			}
		default:
			p.refuse(ReasonInvalidTemporality, n, "metric %.200q has no aggregation temporality (want cumulative)", m.Name())
			return n, false
		}
	}
	switch m.Type() {
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for k := range dps.Len() {
			dp := dps.At(k)
			p.add(1, dp.Attributes(), dp.Exemplars(), promLabels, promBytes)
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for k := range dps.Len() {
			dp := dps.At(k)
			// A bucket series per bound and +Inf, _sum and _count.
			p.add(dp.ExplicitBounds().Len()+3, dp.Attributes(), dp.Exemplars(), promLabels, promBytes)
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for k := range dps.Len() {
			dp := dps.At(k)
			p.add(1, dp.Attributes(), dp.Exemplars(), promLabels, promBytes)
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for k := range dps.Len() {
			dp := dps.At(k)
			p.add(dp.QuantileValues().Len()+2, dp.Attributes(), pmetric.NewExemplarSlice(), promLabels, promBytes)
		}
	}
	return n, true
}

// add counts series series of a data point with attributes attrs.
func (p *planResult) add(series int, attrs pcommon.Map, exemplars pmetric.ExemplarSlice, promLabels, promBytes int) {
	n, b, high := attrSize(attrs)
	p.high |= high
	p.series += series
	p.labels += series * (n + promLabels + addedLabels)
	p.bytes += series * (b + promBytes + addedLabelBytes)
	for i := range exemplars.Len() {
		en, eb, _ := attrSize(exemplars.At(i).FilteredAttributes())
		p.labels += en + 2 // trace_id, span_id
		p.bytes += eb + 64
	}
}

// dataPoints returns how many data points m has.
func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// attrSize returns the number of attributes, their estimated name and
// value bytes as labels, and the [highBits] of their names and values.
func attrSize(attrs pcommon.Map) (n, size int, high uint64) {
	attrs.Range(func(k string, v pcommon.Value) bool {
		vs, vh := valueSize(v)
		n++
		size += len(k) + vs
		high |= highBits(k) | vh
		return true
	})
	return n, size, high
}

// promotedSize is attrSize of the promoted resource attributes.
func promotedSize(attrs pcommon.Map, promoted []string) (n, size int) {
	if len(promoted) == 0 {
		return 0, 0
	}
	attrs.Range(func(k string, v pcommon.Value) bool {
		if slices.Contains(promoted, k) {
			vs, _ := valueSize(v)
			n++
			size += len(k) + vs
		}
		return true
	})
	return n, size
}

// valueSize estimates the length of v as a label value, and returns the
// [highBits] of its strings. Maps and slices become JSON, about their
// bytes' length; bytes become base64 and numbers digits, all ASCII.
func valueSize(v pcommon.Value) (int, uint64) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return len(v.Str()), highBits(v.Str())
	case pcommon.ValueTypeBytes:
		return 2 * v.Bytes().Len(), 0 // base64, rounded up
	case pcommon.ValueTypeMap:
		_, n, high := attrSize(v.Map())
		return n + 4*v.Map().Len() + 2, high
	case pcommon.ValueTypeSlice:
		n, high := 2, uint64(0)
		s := v.Slice()
		for i := range s.Len() {
			en, eh := valueSize(s.At(i))
			n += en + 3
			high |= eh
		}
		return n, high
	}
	return nonStringAttrBytes, 0
}

// highMask has the high bit of every byte of a word: a string is ASCII
// when its [highBits] have none of them.
const highMask = 0x8080808080808080

// highBits ORs s's bytes together a word at a time, with no byte loop: the
// tail shorter than a word is read as an overlapping word, or a string
// shorter than 8 bytes as two overlapping halves. Only the bits of
// highMask mean anything in the result.
func highBits(s string) uint64 {
	// A read-only view of the string's bytes, to load them as words.
	p := unsafe.Slice(unsafe.StringData(s), len(s))
	n := len(p)
	switch {
	case n >= 8:
		w := binary.LittleEndian.Uint64(p[n-8:])
		for ; len(p) > 8; p = p[8:] {
			w |= binary.LittleEndian.Uint64(p)
		}
		return w
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(p) | binary.LittleEndian.Uint32(p[n-4:]))
	case n > 0:
		return uint64(p[0]) | uint64(p[n/2]) | uint64(p[n-1])
	}
	return 0
}

package distributor

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Reasons are the reason label of hearth_discarded_samples_total and
// hearth_discarded_metadata_total for what the distributor refuses.
const (
	ReasonMissingMetricName   = "missing_metric_name"
	ReasonInvalidMetricName   = "metric_name_invalid"
	ReasonInvalidLabelName    = "label_name_invalid"
	ReasonInvalidLabelValue   = "label_value_invalid"
	ReasonLabelNameTooLong    = "label_name_too_long"
	ReasonLabelValueTooLong   = "label_value_too_long"
	ReasonMaxLabelNames       = "max_label_names_per_series"
	ReasonDuplicateLabelNames = "duplicate_label_names"
	ReasonTooFarInFuture      = "too_far_in_future"
	ReasonTooOld              = "sample_too_old"
	ReasonInvalidHistogram    = "native_histogram_invalid"
	ReasonNoSamples           = "series_without_samples"
	ReasonExemplarLabels      = "exemplar_labels_invalid"
	ReasonExemplarTooLong     = "exemplar_labels_too_long"
	ReasonExemplarTimestamp   = "exemplar_timestamp_invalid"

	ReasonMetadataMissingName = "metadata_missing_metric_name"
	ReasonMetadataNameTooLong = "metadata_metric_name_too_long"
	ReasonMetadataHelpTooLong = "metadata_help_too_long"
	ReasonMetadataUnitTooLong = "metadata_unit_too_long"
)

// reasonText is each reason's message and its error ID, the section of
// docs/errors.md that explains it.
var reasonText = map[string]struct{ text, id string }{
	ReasonMissingMetricName:   {"series has no metric name", "err-hearth-missing-metric-name"},
	ReasonInvalidMetricName:   {"metric name is not valid UTF-8", "err-hearth-metric-name-invalid"},
	ReasonInvalidLabelName:    {"label name is empty or not valid UTF-8", "err-hearth-label-name-invalid"},
	ReasonInvalidLabelValue:   {"label value is not valid UTF-8", "err-hearth-label-value-invalid"},
	ReasonLabelNameTooLong:    {"label name too long", "err-hearth-label-name-too-long"},
	ReasonLabelValueTooLong:   {"label value too long", "err-hearth-label-value-too-long"},
	ReasonMaxLabelNames:       {"series has too many labels", "err-hearth-max-label-names-per-series"},
	ReasonDuplicateLabelNames: {"duplicate label name", "err-hearth-duplicate-label-names"},
	ReasonTooFarInFuture:      {"timestamp too far in the future", "err-hearth-too-far-in-future"},
	ReasonTooOld:              {"timestamp too old", "err-hearth-sample-too-old"},
	ReasonInvalidHistogram:    {"invalid native histogram", "err-hearth-native-histogram-invalid"},
	ReasonNoSamples:           {"remote-write 2.0 series has no sample and no histogram (the spec requires one)", "err-hearth-series-without-samples"},
	ReasonExemplarLabels:      {"exemplar label name is empty or not valid UTF-8", "err-hearth-exemplar-labels-invalid"},
	ReasonExemplarTooLong:     {"exemplar labels too long", "err-hearth-exemplar-labels-too-long"},
	ReasonExemplarTimestamp:   {"exemplar timestamp missing or too far in the future", "err-hearth-exemplar-timestamp-invalid"},
	ReasonMetadataMissingName: {"metadata has no metric family name", "err-hearth-metadata-missing-metric-name"},
	ReasonMetadataNameTooLong: {"metadata metric family name too long", "err-hearth-metadata-metric-name-too-long"},
	ReasonMetadataHelpTooLong: {"metadata help too long", "err-hearth-metadata-help-too-long"},
	ReasonMetadataUnitTooLong: {"metadata unit too long", "err-hearth-metadata-unit-too-long"},
}

// ValidationError is data refused by the distributor's validation. It
// matches [remotewrite.ErrInvalid] (400).
type ValidationError struct {
	Reason string
	Tenant tenant.ID
	// Series is the offending series (or metadata entry) in the Prometheus
	// text form.
	Series string
	// Detail names the part at fault, e.g. the label name; may be empty.
	Detail string
	// Limit and Actual, when Limit is not 0, are the limit that was
	// exceeded and the value found.
	Limit, Actual int64
	// Others counts further rejected items of the same request.
	Others int
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(reasonText[e.Reason].text)
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%.200q)", e.Detail)
	}
	if e.Limit != 0 {
		fmt.Fprintf(&b, ": %d, limit %d", e.Actual, e.Limit)
	}
	fmt.Fprintf(&b, " for series %.200q of tenant %s (%s)", e.Series, e.Tenant, reasonText[e.Reason].id)
	if e.Others > 0 {
		fmt.Fprintf(&b, "; %d more items refused", e.Others)
	}
	return b.String()
}

// Is makes the error match remotewrite.ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == remotewrite.ErrInvalid }

// problem is what validation found wrong, without allocating.
type problem struct {
	reason        string
	detail        string
	limit, actual int64
}

// validator validates the series of one request. Not safe for concurrent
// use.
type validator struct {
	tenant       tenant.ID
	limits       *limits.Limits
	minTs, maxTs int64 // accepted sample timestamps, inclusive
	spans        [2][]histogram.Span
	// needSamples refuses series without a sample or a histogram, as
	// remote-write 2.0 requires.
	needSamples bool
	// ascii is the request's ASCIILabels: its label strings are known to
	// be ASCII, so valid UTF-8.
	ascii   bool
	first   *ValidationError
	refused int
	metrics *metrics
}

func (v *validator) reset(t tenant.ID, l *limits.Limits, now time.Time, req *remotewrite.Request) {
	v.tenant, v.limits = t, l
	v.needSamples = req.Protocol == remotewrite.V2
	v.ascii = req.ASCIILabels
	v.maxTs = now.Add(time.Duration(l.CreationGracePeriod)).UnixMilli()
	v.minTs = -1 << 63
	if l.RejectOldSamples {
		v.minTs = now.Add(-time.Duration(l.RejectOldSamplesMaxAge)).UnixMilli()
	}
	v.first, v.refused = nil, 0
}

// err is the request's validation outcome: the first refusal, with the
// count of the others.
func (v *validator) err() error {
	if v.first == nil {
		return nil
	}
	v.first.Others = v.refused - 1
	return v.first
}

func (v *validator) refuse(p problem, labels []ingesterpb.LabelPair, n int) {
	v.refused++
	if n > 0 {
		v.metrics.discardedSamples.WithLabelValues(string(v.tenant), p.reason).Add(float64(n))
	}
	if v.first == nil {
		v.first = &ValidationError{Reason: p.reason, Tenant: v.tenant, Series: formatLabels(labels), Detail: p.detail, Limit: p.limit, Actual: p.actual}
	}
}

// series validates ts and reports whether to keep it. It drops empty label
// values (as Prometheus does) and invalid exemplars in place.
func (v *validator) series(ts *ingesterpb.TimeSeries) bool {
	ts.Labels = dropEmptyValues(ts.Labels)
	if p := v.labels(ts.Labels); p.reason != "" {
		v.refuse(p, ts.Labels, len(ts.Samples)+len(ts.Histograms)+len(ts.Exemplars))
		return false
	}
	if v.needSamples && len(ts.Samples) == 0 && len(ts.Histograms) == 0 {
		// Prometheus answers 400 and stores nothing of the series, its
		// exemplars and metadata included.
		v.refuse(problem{reason: ReasonNoSamples}, ts.Labels, len(ts.Exemplars))
		return false
	}
	if p := v.samples(ts); p.reason != "" {
		v.refuse(p, ts.Labels, len(ts.Samples)+len(ts.Histograms)+len(ts.Exemplars))
		return false
	}
	if len(ts.Exemplars) > 0 {
		kept := ts.Exemplars[:0]
		for i := range ts.Exemplars {
			if p := v.exemplar(&ts.Exemplars[i]); p.reason != "" {
				v.refuse(p, ts.Labels, 1)
				continue
			}
			// Swap, not copy: both elements keep their own label slices
			// for reuse.
			kept = kept[:len(kept)+1]
			ts.Exemplars[len(kept)-1], ts.Exemplars[i] = ts.Exemplars[i], ts.Exemplars[len(kept)-1]
		}
		ts.Exemplars = kept
	}
	return true
}

func dropEmptyValues(ls []ingesterpb.LabelPair) []ingesterpb.LabelPair {
	for i := range ls {
		if ls[i].Value == "" {
			kept := ls[:i]
			for _, l := range ls[i+1:] {
				if l.Value != "" {
					kept = append(kept, l)
				}
			}
			return kept
		}
	}
	return ls
}

// labels validates a series' labels. Labels out of order are sorted in
// place (the sorted path, the usual one, costs nothing more); a duplicate
// name, sorted or not, is refused.
func (v *validator) labels(ls []ingesterpb.LabelPair) problem {
	l := v.limits
	if l.MaxLabelNamesPerSeries > 0 && len(ls) > l.MaxLabelNamesPerSeries {
		return problem{reason: ReasonMaxLabelNames, limit: int64(l.MaxLabelNamesPerSeries), actual: int64(len(ls))}
	}
	hasName, unsorted := false, false
	for i := range ls {
		name, value := ls[i].Name, ls[i].Value
		// Nearly every label is ASCII, which is valid UTF-8: one cheap
		// pass over both strings spares the UTF-8 decoder (a fifth of
		// the distributor's CPU before).
		ascii := v.ascii || isASCII(name, value)
		if name == model.MetricNameLabel {
			hasName = true
			if (!ascii || value == "") && !model.UTF8Validation.IsValidMetricName(value) {
				return problem{reason: ReasonInvalidMetricName, detail: value}
			}
		}
		if (!ascii || name == "") && !model.UTF8Validation.IsValidLabelName(name) {
			return problem{reason: ReasonInvalidLabelName, detail: name}
		}
		if l.MaxLabelNameLength > 0 && len(name) > l.MaxLabelNameLength {
			return problem{reason: ReasonLabelNameTooLong, detail: name, limit: int64(l.MaxLabelNameLength), actual: int64(len(name))}
		}
		if l.MaxLabelValueLength > 0 && len(value) > l.MaxLabelValueLength {
			return problem{reason: ReasonLabelValueTooLong, detail: value, limit: int64(l.MaxLabelValueLength), actual: int64(len(value))}
		}
		if !ascii && !utf8.ValidString(value) {
			return problem{reason: ReasonInvalidLabelValue, detail: name}
		}
		if i > 0 && !unsorted {
			switch prev := ls[i-1].Name; {
			case prev == name:
				return problem{reason: ReasonDuplicateLabelNames, detail: name}
			case prev > name:
				// Senders built on maps do not sort, and Prometheus
				// sorts for them: sort below, after the other checks.
				unsorted = true
			}
		}
	}
	if !hasName {
		return problem{reason: ReasonMissingMetricName}
	}
	if unsorted {
		slices.SortFunc(ls, func(a, b ingesterpb.LabelPair) int { return strings.Compare(a.Name, b.Name) })
		for i := 1; i < len(ls); i++ {
			if ls[i-1].Name == ls[i].Name {
				return problem{reason: ReasonDuplicateLabelNames, detail: ls[i].Name}
			}
		}
		v.metrics.sortedLabels.WithLabelValues(string(v.tenant)).Inc()
	}
	return problem{}
}

// isASCII reports whether a and b hold only ASCII bytes (and so are valid
// UTF-8), eight bytes at a time: as fast as utf8.ValidString on long
// strings, and much faster on the short ones labels are.
func isASCII(a, b string) bool {
	var words uint64
	var bytes byte
	for _, s := range [2]string{a, b} {
		// A read-only view of the string's bytes, to load them as words.
		p := unsafe.Slice(unsafe.StringData(s), len(s))
		for len(p) >= 8 {
			words |= binary.LittleEndian.Uint64(p)
			p = p[8:]
		}
		for _, c := range p {
			bytes |= c
		}
	}
	return words&0x8080808080808080 == 0 && bytes < utf8.RuneSelf
}

func (v *validator) timestamp(ts int64) problem {
	if ts > v.maxTs {
		return problem{reason: ReasonTooFarInFuture, limit: v.maxTs, actual: ts}
	}
	if ts < v.minTs {
		return problem{reason: ReasonTooOld, limit: v.minTs, actual: ts}
	}
	return problem{}
}

func (v *validator) samples(ts *ingesterpb.TimeSeries) problem {
	for i := range ts.Samples {
		if p := v.timestamp(ts.Samples[i].TimestampMs); p.reason != "" {
			return p
		}
	}
	for i := range ts.Histograms {
		h := &ts.Histograms[i]
		if p := v.timestamp(h.TimestampMs); p.reason != "" {
			return p
		}
		if err := v.histogram(h); err != nil {
			return problem{reason: ReasonInvalidHistogram, detail: err.Error()}
		}
	}
	return problem{}
}

// histogram runs Prometheus's own validation on h, viewing it (buckets
// aliased) with span buffers reused across histograms.
func (v *validator) histogram(h *ingesterpb.Histogram) error {
	if h.IsFloat() {
		if len(h.PositiveDeltas) > 0 || len(h.NegativeDeltas) > 0 {
			return fmt.Errorf("float histogram with integer bucket deltas")
		}
		fh := histogram.FloatHistogram{PositiveSpans: v.spans[0], NegativeSpans: v.spans[1]}
		h.ViewFloatHistogram(&fh)
		v.spans[0], v.spans[1] = fh.PositiveSpans, fh.NegativeSpans
		return fh.Validate()
	}
	if len(h.PositiveCounts) > 0 || len(h.NegativeCounts) > 0 {
		return fmt.Errorf("integer histogram with float bucket counts")
	}
	ih := histogram.Histogram{PositiveSpans: v.spans[0], NegativeSpans: v.spans[1]}
	h.ViewHistogram(&ih)
	v.spans[0], v.spans[1] = ih.PositiveSpans, ih.NegativeSpans
	return ih.Validate()
}

func (v *validator) exemplar(e *ingesterpb.Exemplar) problem {
	if e.TimestampMs == 0 || e.TimestampMs > v.maxTs {
		return problem{reason: ReasonExemplarTimestamp, actual: e.TimestampMs}
	}
	runes := 0
	for _, l := range e.Labels {
		if !model.UTF8Validation.IsValidLabelName(l.Name) || !utf8.ValidString(l.Value) {
			return problem{reason: ReasonExemplarLabels, detail: l.Name}
		}
		runes += utf8.RuneCountInString(l.Name) + utf8.RuneCountInString(l.Value)
	}
	if max := v.limits.MaxExemplarLabelsLength; max > 0 && runes > max {
		return problem{reason: ReasonExemplarTooLong, limit: int64(max), actual: int64(runes)}
	}
	return problem{}
}

// metadata validates m and reports whether to keep it.
func (v *validator) metadata(m *ingesterpb.MetricMetadata) bool {
	max := v.limits.MaxMetadataLength
	var p problem
	switch {
	case m.MetricFamilyName == "":
		p = problem{reason: ReasonMetadataMissingName}
	case max > 0 && len(m.MetricFamilyName) > max:
		p = problem{reason: ReasonMetadataNameTooLong, limit: int64(max), actual: int64(len(m.MetricFamilyName))}
	case max > 0 && len(m.Help) > max:
		p = problem{reason: ReasonMetadataHelpTooLong, limit: int64(max), actual: int64(len(m.Help))}
	case max > 0 && len(m.Unit) > max:
		p = problem{reason: ReasonMetadataUnitTooLong, limit: int64(max), actual: int64(len(m.Unit))}
	default:
		return true
	}
	v.refused++
	v.metrics.discardedMetadata.WithLabelValues(string(v.tenant), p.reason).Inc()
	if v.first == nil {
		v.first = &ValidationError{Reason: p.reason, Tenant: v.tenant, Series: "metadata " + m.MetricFamilyName, Limit: p.limit, Actual: p.actual}
	}
	return false
}

// formatLabels renders a label set as {a="b", c="d"}; only for errors.
func formatLabels(ls []ingesterpb.LabelPair) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteString(", ")
		}
		if b.Len() > 400 {
			b.WriteString("…")
			break
		}
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

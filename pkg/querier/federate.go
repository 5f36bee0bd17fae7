package querier

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"google.golang.org/protobuf/proto"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// maxFederateSelectors bounds the match[] parameters of one /federate
// request.
const maxFederateSelectors = 100

// federateHandler serves <prefix>/federate as Prometheus's /federate does:
// for every series matched by one of the match[] selectors, its latest
// sample within -querier.lookback-delta of now, in the text exposition
// format or, when the Accept header asks for it, the delimited protobuf
// one (which alone carries native histograms). Series keep their labels;
// as in Prometheus, a series without an instance label is given an empty
// one, so a scraper with honor_labels: true keeps every label as it is
// and adds only what is missing. Each selector must have a matcher that
// does not match the empty string; the series read are bounded by the
// tenant's -querier.max-series-per-query, and the request takes a
// -querier.max-concurrent slot (and the tenant's per-tenant slot, by the
// route).
type federateHandler struct {
	queryable storage.Queryable
	parser    parser.Parser
	lookback  time.Duration
	now       func() time.Time
	slots     *concurrencyLimiter
	logger    *slog.Logger
	metrics   *metrics
}

// federated is one series' latest sample.
type federated struct {
	lset labels.Labels
	t    int64
	f    float64
	fh   *histogram.FloatHistogram
}

func (h *federateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, "parsing the form values of /federate: "+err.Error(), http.StatusBadRequest)
		return
	}
	selectors := r.Form["match[]"]
	switch {
	case len(selectors) == 0:
		http.Error(w, `/federate needs at least one match[] parameter, a series selector such as match[]={job="api"}`, http.StatusBadRequest)
		return
	case len(selectors) > maxFederateSelectors:
		http.Error(w, fmt.Sprintf("/federate has %d match[] parameters, more than the limit of %d", len(selectors), maxFederateSelectors), http.StatusBadRequest)
		return
	}
	sets := make([][]*labels.Matcher, 0, len(selectors))
	for _, s := range selectors {
		ms, err := h.parser.ParseMetricSelector(s)
		if err != nil {
			http.Error(w, fmt.Sprintf("match[] %q of /federate is not a valid series selector: %v", s, err), http.StatusBadRequest)
			return
		}
		if err := needSelective(ms); err != nil {
			http.Error(w, fmt.Sprintf("match[] %q of /federate: %v", s, err), http.StatusBadRequest)
			return
		}
		sets = append(sets, ms)
	}
	ctx := r.Context()
	if _, err := h.slots.Insert(ctx, ""); err != nil {
		http.Error(w, "waiting for one of the querier's -querier.max-concurrent slots: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer h.slots.Delete(0)
	h.metrics.tenantQueries.WithLabelValues(string(id), "federate").Inc()

	now := h.now()
	maxt := now.UnixMilli()
	mint := now.Add(-h.lookback).UnixMilli()
	vec, err := h.latest(r, sets, mint, maxt)
	if err != nil {
		h.fail(w, id, err)
		return
	}
	h.metrics.tenantSamplesRead.WithLabelValues(string(id)).Add(float64(len(vec)))
	format := expfmt.NegotiateAccept(r.Header,
		expfmt.NewFormat(expfmt.TypeProtoDelim), expfmt.NewFormat(expfmt.TypeProtoText),
		expfmt.NewFormat(expfmt.TypeProtoCompact), expfmt.NewFormat(expfmt.TypeTextPlain))
	w.Header().Set("Content-Type", string(format))
	if err := encodeFederated(expfmt.NewEncoder(w, format), vec, format.FormatType()); err != nil {
		h.logger.Debug("Writing the /federate answer failed", "tenant", id, "err", err)
	}
}

// latest reads the latest sample in [mint, maxt] of every series the sets
// select, without stale markers (the exposition formats cannot carry
// them), sorted by metric name.
func (h *federateHandler) latest(r *http.Request, sets [][]*labels.Matcher, mint, maxt int64) ([]federated, error) {
	q, err := h.queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	hints := &storage.SelectHints{Start: mint, End: maxt}
	var all []storage.SeriesSet
	for _, ms := range sets {
		all = append(all, q.Select(r.Context(), true, hints, ms...))
	}
	set := storage.NewMergeSeriesSet(all, 0, storage.ChainedSeriesMerge)
	var (
		vec []federated
		it  chunkenc.Iterator
	)
	for set.Next() {
		s := set.At()
		it = s.Iterator(it)
		last := federated{t: -1 << 63}
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			t := it.AtT()
			if t > maxt {
				break
			}
			if t < mint {
				continue
			}
			last.t = t
			switch vt {
			case chunkenc.ValFloat:
				_, last.f = it.At()
				last.fh = nil
			case chunkenc.ValHistogram, chunkenc.ValFloatHistogram:
				_, last.fh = it.AtFloatHistogram(nil)
			}
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
		if last.t < mint || (last.fh == nil && value.IsStaleNaN(last.f)) || (last.fh != nil && value.IsStaleNaN(last.fh.Sum)) {
			continue
		}
		last.lset = s.Labels()
		vec = append(vec, last)
	}
	if err := set.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(vec, func(a, b federated) int {
		return cmp.Compare(a.lset.Get(model.MetricNameLabel), b.lset.Get(model.MetricNameLabel))
	})
	return vec, nil
}

// encodeFederated writes vec, sorted by metric name, as metric families:
// floats as untyped, native histograms (in protobuf formats only; text
// formats cannot carry them) as histograms or gauge histograms. A family
// holds the consecutive series of one name and one kind, so a name with
// both floats and histograms makes two families, as in Prometheus.
func encodeFederated(enc expfmt.Encoder, vec []federated, ft expfmt.FormatType) error {
	protobuf := ft == expfmt.TypeProtoDelim || ft == expfmt.TypeProtoText || ft == expfmt.TypeProtoCompact
	var fam *dto.MetricFamily
	for _, s := range vec {
		name := s.lset.Get(model.MetricNameLabel)
		if name == "" {
			continue
		}
		typ := dto.MetricType_UNTYPED
		if s.fh != nil {
			if !protobuf || s.fh.UsesCustomBuckets() {
				continue
			}
			typ = dto.MetricType_HISTOGRAM
			if s.fh.CounterResetHint == histogram.GaugeType {
				typ = dto.MetricType_GAUGE_HISTOGRAM
			}
		}
		if fam == nil || fam.GetName() != name || fam.GetType() != typ {
			if fam != nil {
				if err := enc.Encode(fam); err != nil {
					return err
				}
			}
			fam = &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum()}
		}
		m := &dto.Metric{TimestampMs: proto.Int64(s.t)}
		hasInstance := false
		s.lset.Range(func(l labels.Label) {
			if l.Name == model.MetricNameLabel || l.Value == "" {
				return
			}
			hasInstance = hasInstance || l.Name == model.InstanceLabel
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(l.Name), Value: proto.String(l.Value)})
		})
		if !hasInstance {
			m.Label = append(m.Label, &dto.LabelPair{Name: proto.String(model.InstanceLabel), Value: proto.String("")})
		}
		if s.fh != nil {
			m.Histogram = nativeHistogram(s.fh)
		} else {
			m.Untyped = &dto.Untyped{Value: proto.Float64(s.f)}
		}
		fam.Metric = append(fam.Metric, m)
	}
	if fam != nil {
		return enc.Encode(fam)
	}
	return nil
}

// nativeHistogram is h (an exponential-schema histogram) as the client
// model's native histogram.
func nativeHistogram(h *histogram.FloatHistogram) *dto.Histogram {
	spans := func(ss []histogram.Span) []*dto.BucketSpan {
		out := make([]*dto.BucketSpan, len(ss))
		for i, s := range ss {
			out[i] = &dto.BucketSpan{Offset: proto.Int32(s.Offset), Length: proto.Uint32(s.Length)}
		}
		return out
	}
	d := &dto.Histogram{
		SampleCountFloat: proto.Float64(h.Count),
		SampleSum:        proto.Float64(h.Sum),
		Schema:           proto.Int32(h.Schema),
		ZeroThreshold:    proto.Float64(h.ZeroThreshold),
		ZeroCountFloat:   proto.Float64(h.ZeroCount),
		PositiveSpan:     spans(h.PositiveSpans),
		PositiveCount:    h.PositiveBuckets,
		NegativeSpan:     spans(h.NegativeSpans),
		NegativeCount:    h.NegativeBuckets,
	}
	if len(d.PositiveSpan) == 0 && len(d.NegativeSpan) == 0 {
		// An empty span list would read as a classic histogram.
		d.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	return d
}

// fail answers a read error with the status the API would give it.
func (h *federateHandler) fail(w http.ResponseWriter, id tenant.ID, err error) {
	failRead(w, h.logger, id, "Federation failed", err)
}

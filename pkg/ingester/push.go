package ingester

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// pushAppender is what Push needs from a TSDB appender; tsdb.DB's
// AppenderV2 provides all of it.
type pushAppender interface {
	storage.AppenderV2
	storage.GetRef
	AppendExemplars(ref storage.SeriesRef, ls labels.Labels, exemplars []exemplar.Exemplar) (storage.SeriesRef, error)
}

// pushScratch holds buffers reused from one push to the next.
type pushScratch struct {
	builder   labels.ScratchBuilder
	lset      labels.Labels
	exemplars []exemplar.Exemplar
	errs      []ingesterpb.PushError
	refused   []ingesterpb.SeriesRefusal
}

// pushCounts counts what one push stored. Duplicates of a stored sample
// (same timestamp, same value) are stored already: they count as written
// for the response, not in the ingested metrics.
type pushCounts struct {
	samples, histograms, exemplars int
	dupSamples, dupHistograms      int
}

// noteRefused records in s.refused what series k lost, from the counts
// before and after pushing it.
func (s *pushScratch) noteRefused(k int, ts *ingesterpb.TimeSeries, before, after pushCounts) {
	rs := len(ts.Samples) - (after.samples - before.samples) - (after.dupSamples - before.dupSamples)
	rh := len(ts.Histograms) - (after.histograms - before.histograms) - (after.dupHistograms - before.dupHistograms)
	re := len(ts.Exemplars) - (after.exemplars - before.exemplars)
	if rs > 0 || rh > 0 || re > 0 {
		s.refused = append(s.refused, ingesterpb.SeriesRefusal{Series: uint32(k), Samples: uint32(max(rs, 0)), Histograms: uint32(max(rh, 0)), Exemplars: uint32(max(re, 0))})
	}
}

// Push appends the request's series to the tenant's head. Series that
// cannot be stored do not fail the call: they are reported in the response,
// grouped by reason. The call fails, with Unavailable, only when the whole
// push may succeed later (the ingester is not running, the disk is full).
//
// Push keeps nothing of req once it returns: its strings and slices may
// alias a buffer the caller reuses (the gRPC receive buffer, or the
// distributor's pooled request when it calls an ingester of its own
// process). Push builds each series' labels in a reused buffer and copies
// them into owned memory only when the series is new, because the head
// keeps the label set it is given; histograms are copied too, because the
// head keeps the last one of each series.
func (i *Ingester) Push(ctx context.Context, req *ingesterpb.PushRequest) (*ingesterpb.PushResponse, error) {
	return i.PushWithLabels(ctx, req, nil)
}

// PushWithLabels is Push for a caller in this process that has each
// series' labels.Labels already (the distributor's OTLP translation):
// series[k], when not empty, is req.Timeseries[k]'s label set, in memory
// nothing writes to. Push then appends with it rather than building it
// from the pairs, and a new series keeps it without a copy. It is ignored
// when its length is not the request's, and in builds whose label sets
// are not one string (slicelabels, dedupelabels).
func (i *Ingester) PushWithLabels(ctx context.Context, req *ingesterpb.PushRequest, series []labels.Labels) (*ingesterpb.PushResponse, error) {
	if !lookupOnce || len(series) != len(req.Timeseries) {
		series = nil
	}
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := i.checkRunning(); err != nil {
		return nil, toStatus(err)
	}
	if err := i.admitPush(id); err != nil {
		return nil, toStatus(err)
	}
	defer i.endPush()
	tdb, err := i.dbs.forWrite(id)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := tdb.acquire(); err != nil {
		return nil, toStatus(err)
	}
	defer tdb.mu.RUnlock()
	if err := i.dbs.checkWAL(tdb); err != nil {
		return nil, toStatus(err)
	}

	s := i.pushPool.Get().(*pushScratch)
	defer func() {
		s.errs, s.refused = s.errs[:0], s.refused[:0]
		clear(s.exemplars)
		s.exemplars = s.exemplars[:0]
		i.pushPool.Put(s)
	}()

	app, ok := tdb.db.AppenderV2(ctx).(pushAppender)
	if !ok {
		return nil, toStatus(errors.New("TSDB appender lacks GetRef or AppendExemplars"))
	}
	var counts pushCounts
	oooAllowed := tdb.oooWindow.Load() > 0
	for k := range req.Timeseries {
		before := counts
		given := labels.EmptyLabels()
		if series != nil {
			given = series[k]
		}
		pushSeries(app, s, tdb.limiter, &req.Timeseries[k], given, oooAllowed, &counts)
		s.noteRefused(k, &req.Timeseries[k], before, counts)
	}
	now := i.now()
	lim := i.overrides.For(id)
	for k := range req.Metadata {
		md := &req.Metadata[k]
		if err := tdb.metadata.add(md, now, lim); err != nil {
			var mle *metadataLimitError
			reason := "metadata_invalid"
			if errors.As(err, &mle) {
				reason = mle.reason
			}
			s.record(reason, 1, func() string { return fmt.Sprintf("%v, metric %.200q", err, md.MetricFamilyName) })
		}
	}
	if err := i.dbs.commit(tdb, app); err != nil {
		return nil, toStatus(err)
	}

	t := string(id)
	if counts.samples > 0 {
		i.metrics.ingestedSamples.WithLabelValues(t).Add(float64(counts.samples))
	}
	if counts.histograms > 0 {
		i.metrics.ingestedHistograms.WithLabelValues(t).Add(float64(counts.histograms))
	}
	if counts.exemplars > 0 {
		i.metrics.ingestedExemplars.WithLabelValues(t).Add(float64(counts.exemplars))
	}
	if req.Source == ingesterpb.Source_SOURCE_RULE {
		tdb.ruleRate.add(counts.samples + counts.histograms)
	} else {
		tdb.apiRate.add(counts.samples + counts.histograms)
	}
	if len(req.Metadata) > 0 {
		i.metrics.memoryMetadata.WithLabelValues(t).Set(float64(tdb.metadata.len()))
	}

	resp := &ingesterpb.PushResponse{}
	if len(s.errs) > 0 {
		resp.Errors = slices.Clone(s.errs)
		resp.Refused = slices.Clone(s.refused)
		for _, e := range s.errs {
			i.metrics.appendFailures.WithLabelValues(t, e.Reason).Add(float64(e.Samples))
		}
	}
	return resp, nil
}

// pushSeries appends one series' samples, histograms and exemplars.
// oooAllowed says the tenant has an out-of-order window; lim is the
// tenant's series limiter, which decides which label sets the head may
// create series with (see owned.go). given, when not empty, is ts's label
// set in owned memory (PushWithLabels): it is neither built nor copied.
func pushSeries(app pushAppender, s *pushScratch, lim *seriesLimiter, ts *ingesterpb.TimeSeries, given labels.Labels, oooAllowed bool, counts *pushCounts) {
	// lset aliases s.lset (and maybe the request) until the series is
	// found to be new: then it is an owned copy, which the head keeps.
	lset, owned := given, !given.IsEmpty()
	if !owned {
		ingesterpb.BuildLabels(&s.builder, ts.Labels, true) // An empty value is an absent label.
		s.builder.Overwrite(&s.lset)
		lset = s.lset
	}
	var ref storage.SeriesRef
	if !lookupOnce {
		if ref, lset = app.GetRef(s.lset, s.lset.Hash()); ref == 0 {
			lset = ownedCopy(s.lset)
		}
	}

	// Floats and histograms of one series are appended in timestamp order,
	// merged: the head refuses a sample older than the series' last one,
	// whatever its kind. The appender checks order against committed
	// samples only; samples out of order within the request would be
	// dropped silently at commit. Without an out-of-order window they are
	// refused here, as they would be across requests.
	var (
		prevT    = int64(math.MinInt64)
		prev     sampleValue
		fi, hi   int
		nFloats  = len(ts.Samples)
		nHistos  = len(ts.Histograms)
		appended bool
	)
	for fi < nFloats || hi < nHistos {
		var cur sampleValue
		var t int64
		if hi >= nHistos || (fi < nFloats && ts.Samples[fi].TimestampMs <= ts.Histograms[hi].TimestampMs) {
			smp := &ts.Samples[fi]
			t, cur = smp.TimestampMs, sampleValue{f: smp.Value}
			fi++
		} else {
			ph := &ts.Histograms[hi]
			t = ph.TimestampMs
			// The head keeps each series' last histogram (to tell
			// duplicates from new values): ToHistogram copies.
			cur.h, cur.fh = ph.ToHistogram()
			cur.isHist = true
			hi++
		}
		if !oooAllowed && appended && t <= prevT {
			switch {
			case t < prevT:
				s.recordSample(storage.ErrOutOfOrderSample, t, lset)
			case !cur.same(prev):
				s.recordSample(storage.ErrDuplicateSampleForTimestamp, t, lset)
			case cur.isHist:
				counts.dupHistograms++
			default:
				counts.dupSamples++
			}
			continue
		}
		r, err := app.Append(ref, lset, 0, t, cur.f, cur.h, cur.fh, storage.AOptions{})
		if err != nil && errors.Is(err, errUnownedLabels) {
			if !owned {
				lset, owned = ownedCopy(lset), true
			}
			r, err = appendOwned(app, lim, lset, t, cur)
		}
		if err != nil {
			// The failing sample and everything after it are dropped.
			if s.seriesFailed(err, lset, ts, fi-boolInt(!cur.isHist), hi-boolInt(cur.isHist)) {
				return
			}
			s.recordSample(err, t, lset)
			continue
		}
		ref, prevT, prev, appended = r, t, cur, true
		if cur.isHist {
			counts.histograms++
		} else {
			counts.samples++
		}
	}
	if len(ts.Exemplars) > 0 {
		counts.exemplars += s.appendExemplars(app, ref, lset, ts.Exemplars)
	}
}

// appendOwned appends a sample to a series the head did not have, with
// lset an owned copy of its labels that the head may keep. The head may
// refuse again, with errUnownedLabels, when it loses a race with its
// garbage collection and creates the series from its own copy: a few
// tries settle that.
func appendOwned(app pushAppender, lim *seriesLimiter, lset labels.Labels, t int64, v sampleValue) (storage.SeriesRef, error) {
	lim.owned.allow(lset)
	defer lim.owned.disallow(lset)
	var (
		ref storage.SeriesRef
		err error
	)
	for range 3 {
		ref, err = app.Append(0, lset, 0, t, v.f, v.h, v.fh, storage.AOptions{})
		if !errors.Is(err, errUnownedLabels) {
			break
		}
	}
	return ref, err
}

// sampleValue is one float or histogram sample of a series.
type sampleValue struct {
	isHist bool
	f      float64
	h      *histogram.Histogram
	fh     *histogram.FloatHistogram
}

// same reports whether two samples of the same timestamp are the same
// sample (a harmless duplicate): same kind and bit-identical value.
func (v sampleValue) same(o sampleValue) bool {
	switch {
	case v.isHist != o.isHist:
		return false
	case !v.isHist:
		return math.Float64bits(v.f) == math.Float64bits(o.f)
	case v.h != nil && o.h != nil:
		return v.h.Equals(o.h)
	case v.fh != nil && o.fh != nil:
		return v.fh.Equals(o.fh)
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// seriesFailed handles an error that fails the whole series (a series
// limit): everything of the series from sample k and histogram h on is
// reported as dropped. It reports whether err was such an error.
func (s *pushScratch) seriesFailed(err error, lset labels.Labels, ts *ingesterpb.TimeSeries, k, h int) bool {
	var sle *seriesLimitError
	if !errors.As(err, &sle) {
		return false
	}
	n := len(ts.Samples) - k + len(ts.Histograms) - h + len(ts.Exemplars)
	s.record(sle.reason, n, func() string { return fmt.Sprintf("%v, series %.200q", err, lset.String()) })
	if sle.retryable {
		for i := range s.errs {
			if s.errs[i].Reason == sle.reason {
				s.errs[i].Retryable = true
			}
		}
	}
	return true
}

func (s *pushScratch) recordSample(err error, ts int64, lset labels.Labels) {
	s.record(sampleReason(err), 1, func() string {
		return fmt.Sprintf("%v, timestamp %d, series %.200q", err, ts, lset.String())
	})
}

// appendExemplars appends a series' exemplars, sorted by timestamp, with
// labels in owned memory (the exemplar storage keeps them). It returns how
// many were accepted.
func (s *pushScratch) appendExemplars(app pushAppender, ref storage.SeriesRef, lset labels.Labels, in []ingesterpb.Exemplar) int {
	s.exemplars = s.exemplars[:0]
	for k := range in {
		e := in[k].ToExemplar(&s.builder)
		e.Labels = ownedCopy(e.Labels)
		s.exemplars = append(s.exemplars, e)
	}
	slices.SortStableFunc(s.exemplars, func(a, b exemplar.Exemplar) int {
		switch {
		case a.Ts < b.Ts:
			return -1
		case a.Ts > b.Ts:
			return 1
		}
		return 0
	})
	_, err := app.AppendExemplars(ref, lset, s.exemplars)
	if err == nil {
		return len(s.exemplars)
	}
	var partial *storage.AppendPartialError
	if !errors.As(err, &partial) {
		reason := "exemplar_invalid"
		if errors.Is(err, storage.ErrNotFound) {
			reason = "exemplar_series_missing"
		}
		s.record(reason, len(s.exemplars), func() string { return fmt.Sprintf("%v, series %.200q", err, lset.String()) })
		return 0
	}
	for _, ee := range partial.ExemplarErrors {
		e := s.exemplars[ee.Index]
		s.record(exemplarReason(ee.Err), 1, func() string {
			return fmt.Sprintf("%v, timestamp %d, series %.200q", ee.Err, e.Ts, lset.String())
		})
	}
	return len(s.exemplars) - len(partial.ExemplarErrors)
}

// record counts n items dropped for reason; msg is called only for the
// first failure of a reason.
func (s *pushScratch) record(reason string, n int, msg func() string) {
	for k := range s.errs {
		if s.errs[k].Reason == reason {
			s.errs[k].Samples += uint64(n)
			return
		}
	}
	m := msg()
	if id := errorIDs[reason]; id != "" {
		m += " (" + id + ")"
	}
	s.errs = append(s.errs, ingesterpb.PushError{Reason: reason, Message: m, Samples: uint64(n)})
}

// errorIDs are the error IDs of the reasons a push is refused for: each
// names the section of docs/errors.md that explains it, and ends the
// message the sender gets.
var errorIDs = map[string]string{
	"sample_out_of_order":                   "err-hearth-sample-out-of-order",
	"sample_too_old":                        "err-hearth-sample-too-old",
	"sample_out_of_bounds":                  "err-hearth-sample-out-of-bounds",
	"new_value_for_timestamp":               "err-hearth-new-value-for-timestamp",
	"invalid_native_histogram":              "err-hearth-native-histogram-invalid",
	"invalid_series":                        "err-hearth-invalid-series",
	"append_failed":                         "err-hearth-append-failed",
	"exemplar_out_of_order":                 "err-hearth-exemplar-out-of-order",
	"exemplar_labels_too_long":              "err-hearth-exemplar-labels-too-long",
	"exemplar_invalid":                      "err-hearth-exemplar-invalid",
	"exemplar_series_missing":               "err-hearth-exemplar-series-missing",
	"metadata_invalid":                      "err-hearth-metadata-invalid",
	ingesterpb.ReasonPerTenantMetadataLimit: "err-hearth-per-tenant-metadata-limit",
	ingesterpb.ReasonPerMetricMetadataLimit: "err-hearth-per-metric-metadata-limit",
	"per_tenant_series_limit":               "err-hearth-per-tenant-series-limit",
	"per_metric_series_limit":               "err-hearth-per-metric-series-limit",
	"instance_series_limit":                 "err-hearth-instance-series-limit",
}

// sampleReason names why a sample or histogram was refused.
func sampleReason(err error) string {
	var herr histogram.Error
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		return "sample_out_of_order"
	case errors.Is(err, storage.ErrTooOldSample):
		return "sample_too_old"
	case errors.Is(err, storage.ErrOutOfBounds):
		return "sample_out_of_bounds"
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		return "new_value_for_timestamp"
	case errors.As(err, &herr):
		return "invalid_native_histogram"
	case errors.Is(err, tsdb.ErrInvalidSample):
		return "invalid_series"
	}
	return "append_failed"
}

// exemplarReason names why an exemplar was refused.
func exemplarReason(err error) string {
	switch {
	case errors.Is(err, storage.ErrOutOfOrderExemplar):
		return "exemplar_out_of_order"
	case errors.Is(err, storage.ErrExemplarLabelLength):
		return "exemplar_labels_too_long"
	}
	return "exemplar_invalid"
}

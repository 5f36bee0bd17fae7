package otlp

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// appender is the storage.AppenderV2 Prometheus's OTLP converter writes
// into: it builds a push request. Appends to the series of the previous
// append (the points of one series in a row) extend that series; any other
// append starts a new one, so a series appended twice apart is sent as two
// entries, which the distributor hashes to the same ingesters. Metadata is
// added once per metric family.
//
// Labels are copied into the request's label pairs; their strings are the
// converter's, owned by the garbage collector, so the request may outlive
// the converter. The labels themselves are kept beside the pairs
// (remotewrite.Request.SeriesLabels) for an ingester in this process:
// every label set the converter appends with is a new allocation of its
// labels.Builder (or ScratchBuilder.Labels), never written to again. Not
// safe for concurrent use.
type appender struct {
	req  *remotewrite.Request
	push *ingesterpb.PushRequest
	// last is the series of the previous append; lastIdx its index.
	last    labels.Labels
	lastIdx int
	// families has the metric families whose metadata was added;
	// lastFamily is the latest of them (a family's points come in a row).
	families   map[string]struct{}
	lastFamily string
	// samples and histograms count what was appended.
	samples, histograms int
}

var _ storage.AppenderV2 = (*appender)(nil)

// reset prepares a to fill req, whose slices it reuses.
func (a *appender) reset(req *remotewrite.Request) {
	push := &req.Push
	a.req, a.push = req, push
	req.SeriesLabels = req.SeriesLabels[:0]
	push.Timeseries = push.Timeseries[:0]
	push.Metadata = push.Metadata[:0]
	push.Source = ingesterpb.Source_SOURCE_API
	a.last = labels.EmptyLabels()
	a.lastIdx = -1
	if a.families == nil {
		a.families = make(map[string]struct{})
	}
	clear(a.families)
	a.lastFamily = ""
	a.samples, a.histograms = 0, 0
}

// Append adds a sample to the request. The start timestamp st is not
// stored: Hearth keeps no start timestamps, as Prometheus's TSDB keeps
// none without its created-timestamp feature flags.
func (a *appender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	ts := a.series(ls)
	switch {
	case fh != nil:
		ts.Histograms = append(ts.Histograms, ingesterpb.FromFloatHistogram(t, fh))
		a.histograms++
	case h != nil:
		ts.Histograms = append(ts.Histograms, ingesterpb.FromHistogram(t, h))
		a.histograms++
	default:
		ts.Samples = append(ts.Samples, ingesterpb.Sample{Value: v, TimestampMs: t})
		a.samples++
	}
	if len(opts.Exemplars) > 0 {
		n := len(ts.Exemplars)
		for i := range opts.Exemplars {
			ts.Exemplars = append(ts.Exemplars, ingesterpb.FromExemplar(&opts.Exemplars[i]))
		}
		// The translator passes a data point's exemplars in the order the
		// SDK's reservoir holds them; the ingester, like the TSDB, wants
		// them in time order (AppendV2Options.Exemplars).
		added := ts.Exemplars[n:]
		if !slices.IsSortedFunc(added, byTime) {
			slices.SortStableFunc(added, byTime)
		}
	}
	if name := opts.MetricFamilyName; name != "" && name != a.lastFamily && !opts.Metadata.IsEmpty() {
		if _, ok := a.families[name]; !ok {
			// The name lives only for the call (AppendV2Options).
			name = strings.Clone(name)
			a.families[name] = struct{}{}
			a.push.Metadata = append(a.push.Metadata, ingesterpb.FromMetadata(name, opts.Metadata))
			a.lastFamily = name
		}
	}
	return storage.SeriesRef(a.lastIdx + 1), nil
}

// series returns the request's series for ls: the last one when ls is its
// labels, otherwise a new one (reusing a pooled element's slices).
func (a *appender) series(ls labels.Labels) *ingesterpb.TimeSeries {
	if a.lastIdx >= 0 && labels.Equal(a.last, ls) {
		return &a.push.Timeseries[a.lastIdx]
	}
	tss := a.push.Timeseries
	if len(tss) < cap(tss) {
		tss = tss[:len(tss)+1]
	} else {
		tss = append(tss, ingesterpb.TimeSeries{})
	}
	ts := &tss[len(tss)-1]
	ts.Labels = ingesterpb.AppendLabelPairs(ts.Labels[:0], ls)
	a.req.SeriesLabels = append(a.req.SeriesLabels, remotewrite.NewLocalLabels(ls, ts.Labels))
	ts.Samples = ts.Samples[:0]
	ts.Histograms = ts.Histograms[:0]
	for i := range ts.Exemplars {
		ts.Exemplars[i] = ingesterpb.Exemplar{}
	}
	ts.Exemplars = ts.Exemplars[:0]
	a.push.Timeseries = tss
	a.last = ls
	a.lastIdx = len(tss) - 1
	return ts
}

func byTime(a, b ingesterpb.Exemplar) int { return cmp.Compare(a.TimestampMs, b.TimestampMs) }

// Commit does nothing: the handler pushes the request.
func (*appender) Commit() error { return nil }

// Rollback does nothing: the handler drops the request.
func (*appender) Rollback() error { return nil }

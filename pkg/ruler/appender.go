package ruler

import (
	"context"
	"fmt"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// PushFunc writes series as the samples of the tenant in ctx, with the
// validation and limits of a remote-write push (pkg/app passes the
// distributor's). It must not keep series after it returns.
type PushFunc func(ctx context.Context, series []ingesterpb.TimeSeries) error

// pushAppendable is a tenant's storage.AppendableV2: an evaluation's
// samples are buffered and pushed in one request on Commit.
type pushAppendable struct {
	tenant tenant.ID
	push   PushFunc
}

func (p pushAppendable) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &pushAppender{ctx: tenant.WithID(ctx, p.tenant), push: p.push}
}

type pushAppender struct {
	ctx    context.Context
	push   PushFunc
	series []ingesterpb.TimeSeries
}

var (
	_ storage.AppendableV2 = pushAppendable{}
	_ storage.AppenderV2   = (*pushAppender)(nil)
)

func (a *pushAppender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	ts := ingesterpb.TimeSeries{Labels: make([]ingesterpb.LabelPair, 0, ls.Len())}
	ls.Range(func(l labels.Label) {
		ts.Labels = append(ts.Labels, ingesterpb.LabelPair{Name: l.Name, Value: l.Value})
	})
	switch {
	case h != nil:
		ts.Histograms = []ingesterpb.Histogram{ingesterpb.FromHistogram(t, h)}
	case fh != nil:
		ts.Histograms = []ingesterpb.Histogram{ingesterpb.FromFloatHistogram(t, fh)}
	default:
		ts.Samples = []ingesterpb.Sample{{Value: v, TimestampMs: t}}
	}
	a.series = append(a.series, ts)
	return 0, nil
}

func (a *pushAppender) Commit() error {
	if len(a.series) == 0 {
		return nil
	}
	err := a.push(a.ctx, a.series)
	a.series = nil
	if err != nil {
		return fmt.Errorf("pushing rule results: %w", err)
	}
	return nil
}

func (a *pushAppender) Rollback() error {
	a.series = nil
	return nil
}

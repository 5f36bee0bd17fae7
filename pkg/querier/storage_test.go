package querier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// hearthStorage is a storage.Storage over Hearth's path, for upstream test
// scripts: its appender collects samples and on Commit pushes them, as
// ingesterpb.PushRequests, to every ingester of a cluster; its queriers are
// the querier's Queryable, under one tenant of its own.
type hearthStorage struct {
	c         *cluster
	queryable *Queryable
	tenant    tenant.ID
}

var storageSeq atomic.Int64

func newHearthStorage(c *cluster, q *Queryable) *hearthStorage {
	return &hearthStorage{c: c, queryable: q, tenant: tenant.ID(fmt.Sprint("t", storageSeq.Add(1)))}
}

func newTestQueryable(c *cluster) *Queryable {
	return &Queryable{instances: c, clients: c, metrics: newMetrics(prometheus.NewRegistry())}
}

func (s *hearthStorage) ctx(ctx context.Context) context.Context { return tenant.WithID(ctx, s.tenant) }

func (s *hearthStorage) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := s.queryable.Querier(mint, maxt)
	return &tenantQuerier{q: q, s: s}, err
}

func (s *hearthStorage) ChunkQuerier(mint, maxt int64) (storage.ChunkQuerier, error) {
	return nil, errors.New("not used by the test scripts")
}

func (s *hearthStorage) Appender(context.Context) storage.Appender {
	panic("the test scripts append with AppenderV2")
}

func (s *hearthStorage) AppenderV2(ctx context.Context) storage.AppenderV2 {
	return &pushAppender{s: s, ctx: s.ctx(ctx), series: map[uint64]*ingesterpb.TimeSeries{}}
}

func (*hearthStorage) StartTime() (int64, error) { return 0, nil }

// Close stops the storage's ingesters.
func (s *hearthStorage) Close() error { return s.c.close() }

type tenantQuerier struct {
	q storage.Querier
	s *hearthStorage
}

func (q *tenantQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return q.q.Select(q.s.ctx(ctx), sortSeries, hints, ms...)
}

func (q *tenantQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.q.LabelValues(q.s.ctx(ctx), name, hints, ms...)
}

func (q *tenantQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return q.q.LabelNames(q.s.ctx(ctx), hints, ms...)
}

func (q *tenantQuerier) Close() error { return q.q.Close() }

// pushAppender collects samples per series; Commit pushes them. Start
// timestamps are dropped: the ingester protocol does not carry them.
type pushAppender struct {
	s      *hearthStorage
	ctx    context.Context
	series map[uint64]*ingesterpb.TimeSeries
	order  []uint64
}

func (a *pushAppender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	key := ls.Hash()
	ts, ok := a.series[key]
	if !ok {
		ts = &ingesterpb.TimeSeries{Labels: toPairs(ls)}
		a.series[key] = ts
		a.order = append(a.order, key)
	}
	if h != nil || fh != nil {
		ts.Histograms = append(ts.Histograms, toProtoHistogram(t, h, fh))
	} else {
		ts.Samples = append(ts.Samples, ingesterpb.Sample{TimestampMs: t, Value: v})
	}
	return storage.SeriesRef(key), nil
}

func (a *pushAppender) Commit() error {
	req := &ingesterpb.PushRequest{}
	for _, key := range a.order {
		req.Timeseries = append(req.Timeseries, *a.series[key])
		if len(req.Timeseries) == 1000 {
			if err := a.s.c.push(a.ctx, req); err != nil {
				return err
			}
			req = &ingesterpb.PushRequest{}
		}
	}
	a.series, a.order = nil, nil
	if len(req.Timeseries) == 0 {
		return nil
	}
	return a.s.c.push(a.ctx, req)
}

func (a *pushAppender) Rollback() error {
	a.series, a.order = nil, nil
	return nil
}

var _ storage.Storage = (*hearthStorage)(nil)

// newClusterStorage is the promqltest storage constructor: every storage
// gets three fresh ingesters, stopped when it is closed.
func newClusterStorage(t testing.TB) storage.Storage {
	c := newCluster(t, 3)
	return newHearthStorage(c, newTestQueryable(c))
}

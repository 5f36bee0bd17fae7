package querier

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Store is the long-term chunk store as the querier reads it; *chunk.Store
// implements it. Implementations must be safe for concurrent use. The
// chunks' Data may be shared with the store's caches: the querier never
// modifies it.
type Store interface {
	// Select returns tenant's series matching every matcher that have
	// chunks overlapping [mint, maxt] (milliseconds, inclusive), sorted by
	// labels, each series once with its chunks.
	Select(ctx context.Context, tenant string, mint, maxt int64, ms ...*labels.Matcher) ([]chunk.Series, error)
	// LabelNames returns the sorted label names of tenant's series in
	// [mint, maxt] (at the store's index-bucket resolution), of the series
	// matching ms when any are given.
	LabelNames(ctx context.Context, tenant string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error)
	// LabelValues returns the sorted values of label name, as LabelNames.
	LabelValues(ctx context.Context, tenant, name string, mint, maxt int64, ms ...*labels.Matcher) ([]string, error)
}

var _ Store = (*chunk.Store)(nil)

// Limits answers a tenant's per-tenant limits; *limits.Overrides
// implements it. It must be safe for concurrent use, and the result must
// not be modified.
type Limits interface {
	For(t tenant.ID) *limits.Limits
}

// plan is which sources one read asks, given the time routing.
type plan struct {
	ingesters bool
	store     bool
	// storeMaxt is the end of the range the store is asked for.
	storeMaxt int64
}

// plan routes a read of [mint, maxt] as Cortex does: the ingesters are
// asked when maxt is within -querier.query-ingesters-within of now, the
// store for the part of the range before now - -querier.query-store-after.
// Without a store every read goes to the ingesters.
func (q *Queryable) plan(mint, maxt int64) plan {
	if q.store == nil {
		return plan{ingesters: true}
	}
	now := q.now()
	p := plan{ingesters: true, store: true, storeMaxt: maxt}
	if d := q.cfg.QueryIngestersWithin; d > 0 && maxt < now.Add(-d).UnixMilli() {
		p.ingesters = false
	}
	if d := q.cfg.QueryStoreAfter; d > 0 {
		p.storeMaxt = min(maxt, now.Add(-d).UnixMilli())
		p.store = mint <= p.storeMaxt
	}
	return p
}

// selectStore reads the series of [mint, maxt] from the store and applies
// the tenant's per-query limits to them. With seriesOnly, the chunks are
// dropped and only the series limit applies.
func (q *Queryable) selectStore(ctx context.Context, id tenant.ID, mint, maxt int64, seriesOnly bool, ms []*labels.Matcher) ([]chunk.Series, error) {
	start := time.Now()
	series, err := q.store.Select(ctx, string(id), mint, maxt, ms...)
	q.observeStore("select", start, err)
	if err != nil {
		return nil, storeError(ctx, "select", err)
	}
	var lim limits.Limits
	if q.limits != nil {
		lim = *q.limits.For(id)
	}
	if lim.MaxSeriesPerQuery > 0 && len(series) > lim.MaxSeriesPerQuery {
		return nil, storeLimitError(id, "series", "querier.max-series-per-query", lim.MaxSeriesPerQuery)
	}
	nChunks, nBytes := 0, 0
	for i := range series {
		if seriesOnly {
			series[i].Chunks = nil
			continue
		}
		nChunks += len(series[i].Chunks)
		for _, c := range series[i].Chunks {
			nBytes += len(c.Data)
		}
	}
	if lim.MaxChunksPerQuery > 0 && nChunks > lim.MaxChunksPerQuery {
		return nil, storeLimitError(id, "chunks", "querier.max-chunks-per-query", lim.MaxChunksPerQuery)
	}
	if lim.MaxChunkBytesPerQuery > 0 && nBytes > lim.MaxChunkBytesPerQuery {
		return nil, storeLimitError(id, "chunk bytes", "querier.max-chunk-bytes-per-query", lim.MaxChunkBytesPerQuery)
	}
	q.metrics.storeFetchedSeries.Add(float64(len(series)))
	q.metrics.storeFetchedChunks.Add(float64(nChunks))
	q.metrics.storeFetchedChunkBytes.Add(float64(nBytes))
	return series, nil
}

// storeLabelNames reads label names from the store.
func (q *Queryable) storeLabelNames(ctx context.Context, id tenant.ID, mint, maxt int64, ms []*labels.Matcher) ([]string, error) {
	start := time.Now()
	names, err := q.store.LabelNames(ctx, string(id), mint, maxt, ms...)
	q.observeStore("label_names", start, err)
	if err != nil {
		return nil, storeError(ctx, "label_names", err)
	}
	return names, nil
}

// storeLabelValues reads a label's values from the store.
func (q *Queryable) storeLabelValues(ctx context.Context, id tenant.ID, name string, mint, maxt int64, ms []*labels.Matcher) ([]string, error) {
	start := time.Now()
	values, err := q.store.LabelValues(ctx, string(id), name, mint, maxt, ms...)
	q.observeStore("label_values", start, err)
	if err != nil {
		return nil, storeError(ctx, "label_values", err)
	}
	return values, nil
}

func (q *Queryable) observeStore(op string, start time.Time, err error) {
	status := "success"
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = "canceled"
	case err != nil:
		status = "error"
	}
	q.metrics.storeRequestDuration.WithLabelValues(op, status).Observe(time.Since(start).Seconds())
}

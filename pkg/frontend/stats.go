package frontend

import (
	"context"
	"sync/atomic"
	"time"
)

// Stats is one public request's accounting, in its context from the
// moment the frontend accepts it. The queue round-tripper adds queue and
// querier time for every sub-request it runs; the range-query middlewares
// add what they know (sub-queries, shards, cache extents). Its methods are
// safe for concurrent use: a split or sharded query runs its sub-requests
// in parallel.
type Stats struct {
	queueTime   atomic.Int64
	querierTime atomic.Int64
	subqueries  atomic.Int64
	retries     atomic.Int64
	shards      atomic.Int64
	cacheHits   atomic.Int64
	cacheMisses atomic.Int64
	samples     atomic.Int64
}

type statsKey struct{}

// ContextWithStats returns ctx carrying s.
func ContextWithStats(ctx context.Context, s *Stats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// StatsFromContext returns the request's Stats, or nil outside a frontend
// request; the methods of a nil *Stats do nothing.
func StatsFromContext(ctx context.Context) *Stats {
	s, _ := ctx.Value(statsKey{}).(*Stats)
	return s
}

// AddQueueTime adds the time one sub-request waited in the queue.
func (s *Stats) AddQueueTime(d time.Duration) {
	if s != nil {
		s.queueTime.Add(int64(d))
	}
}

// AddQuerierTime adds the time a querier spent on one sub-request.
func (s *Stats) AddQuerierTime(d time.Duration) {
	if s != nil {
		s.querierTime.Add(int64(d))
	}
}

// AddSubqueries counts sub-requests sent to queriers (a split or sharded
// query has several; retries are counted apart).
func (s *Stats) AddSubqueries(n int) {
	if s != nil {
		s.subqueries.Add(int64(n))
	}
}

// AddRetries counts tries past the first.
func (s *Stats) AddRetries(n int) {
	if s != nil {
		s.retries.Add(int64(n))
	}
}

// AddShards counts the shards a query was split into (query sharding).
func (s *Stats) AddShards(n int) {
	if s != nil {
		s.shards.Add(int64(n))
	}
}

// AddCacheExtents counts results-cache extents found (hits) and computed
// (misses).
func (s *Stats) AddCacheExtents(hits, misses int) {
	if s != nil {
		s.cacheHits.Add(int64(hits))
		s.cacheMisses.Add(int64(misses))
	}
}

// AddSamples adds samples processed by the queriers.
func (s *Stats) AddSamples(n int64) {
	if s != nil {
		s.samples.Add(n)
	}
}

// StatsSnapshot is a Stats' figures at one moment.
type StatsSnapshot struct {
	QueueTime, QuerierTime                   time.Duration
	Subqueries, Retries, Shards              int64
	CacheHits, CacheMisses, SamplesProcessed int64
}

// Snapshot reads the figures.
func (s *Stats) Snapshot() StatsSnapshot {
	if s == nil {
		return StatsSnapshot{}
	}
	return StatsSnapshot{
		QueueTime: time.Duration(s.queueTime.Load()), QuerierTime: time.Duration(s.querierTime.Load()),
		Subqueries: s.subqueries.Load(), Retries: s.retries.Load(), Shards: s.shards.Load(),
		CacheHits: s.cacheHits.Load(), CacheMisses: s.cacheMisses.Load(), SamplesProcessed: s.samples.Load(),
	}
}

// CacheHitRatio is hits ÷ (hits + misses), or -1 when the cache was not
// consulted.
func (s StatsSnapshot) CacheHitRatio() float64 {
	if n := s.CacheHits + s.CacheMisses; n > 0 {
		return float64(s.CacheHits) / float64(n)
	}
	return -1
}

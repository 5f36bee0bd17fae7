// Package queryrangetest helps tests of the query-frontend middlewares: a
// storage.Queryable that honours the __query_shard__ matcher the way the
// ingesters and the chunk store do (labels.StableHash(lset) % N == i), so
// sharded queries can run against Prometheus's own test storage.
package queryrangetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// ShardLabel is the shard matcher's label name (queryrange.ShardLabel; this
// package does not import queryrange so queryrange's tests can use it).
const ShardLabel = "__query_shard__"

// ParseShard parses "<i+1>_of_<N>" into the 0-based index and the count.
func ParseShard(v string) (index, total uint64, err error) {
	a, b, ok := strings.Cut(v, "_of_")
	if !ok {
		return 0, 0, fmt.Errorf("shard %q is not <i>_of_<N>", v)
	}
	i, err1 := strconv.ParseUint(a, 10, 64)
	n, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || n == 0 || i == 0 || i > n {
		return 0, 0, fmt.Errorf("shard %q is not <i>_of_<N> with 1 <= i <= N", v)
	}
	return i - 1, n, nil
}

// Sharding wraps q: a Select with a __query_shard__ equality matcher selects
// without it and keeps only the series of that shard.
func Sharding(q storage.Queryable) storage.Queryable { return shardingQueryable{Queryable: q} }

// ShardingWithHints wraps q, a TSDB opened with EnableSharding: the shard
// matcher becomes SelectHints.ShardCount and ShardIndex, as the ingester
// passes it to its TSDB (which keeps each series' hash, so a shard costs
// no hashing at query time).
func ShardingWithHints(q storage.Queryable) storage.Queryable {
	return shardingQueryable{Queryable: q, hints: true}
}

type shardingQueryable struct {
	storage.Queryable
	hints bool
}

func (s shardingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := s.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, err
	}
	return shardingQuerier{Querier: q, hints: s.hints, mint: mint, maxt: maxt}, nil
}

type shardingQuerier struct {
	storage.Querier
	hints      bool
	mint, maxt int64
}

func (s shardingQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	var (
		kept         []*labels.Matcher
		index, total uint64
	)
	for _, m := range ms {
		if m.Name != ShardLabel {
			kept = append(kept, m)
			continue
		}
		if m.Type != labels.MatchEqual {
			return storage.ErrSeriesSet(fmt.Errorf("shard matcher %s must be an equality", m))
		}
		var err error
		if index, total, err = ParseShard(m.Value); err != nil {
			return storage.ErrSeriesSet(err)
		}
	}
	if total > 0 && s.hints {
		h := storage.SelectHints{Start: s.mint, End: s.maxt}
		if hints != nil {
			h = *hints
		}
		h.ShardCount, h.ShardIndex = total, index
		return s.Querier.Select(ctx, sortSeries, &h, kept...)
	}
	set := s.Querier.Select(ctx, sortSeries, hints, kept...)
	if total == 0 {
		return set
	}
	return &shardSet{SeriesSet: set, index: index, total: total}
}

type shardSet struct {
	storage.SeriesSet
	index, total uint64
}

func (s *shardSet) Next() bool {
	for s.SeriesSet.Next() {
		if labels.StableHash(s.At().Labels())%s.total == s.index {
			return true
		}
	}
	return false
}

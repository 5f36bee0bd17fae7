// Package queryrange is the query frontend's middleware chain for
// Prometheus query and query_range requests. [New] builds it from a
// [Config] and [Deps]; [Middlewares.Wrap] turns a RoundTripper that sends one
// request to a querier into one that answers whole queries. Every other
// request (and any query with parameters the middlewares do not know, such
// as lookback_delta or limit) goes to the querier unchanged.
//
// A range query goes through, in order:
//
//   - @ start() and @ end() rewritten to absolute times, so split and
//     sharded parts keep the original's meaning;
//   - step alignment, for tenants that opt in (align_queries_with_step);
//   - splitting at multiples of -frontend.split-queries-by-interval (UTC),
//     each part on the original's step grid, run in parallel: split parts
//     and shards of one query share max_query_parallelism slots;
//   - the results cache: extents per (tenant, cache generations, step,
//     start modulo step, split interval and bucket, query); only the
//     sub-ranges no extent covers are computed, and only what is older than
//     max(max_cache_freshness, the out-of-order window) is stored. Not
//     cached: Cache-Control: no-store, negative offsets, offset
//     expressions, range() durations, @ times after now − freshness or the
//     end, unaligned requests unless cache_unaligned_requests, answers with
//     warnings (info annotations are cached). Entries are JSON compressed
//     with snappy and carry their logical key, checked on every hit;
//   - sharding: each shardable aggregation (sum, count, min, max, avg as
//     sum/count, group, topk and bottomk with a literal k, over selectors
//     and per-series functions of them) becomes query_sharding_total_shards
//     sub-queries with a __query_shard__="<i+1>_of_<N>" matcher on every
//     selector. The frontend evaluates the rest of the expression with its
//     own PromQL engine over the partial results (stale markers fill the
//     steps a shard had no value at, so lookback never invents one). When a
//     partial result holds native histograms the query is answered
//     unsharded: the JSON a querier answers with does not carry a
//     histogram's schema and spans, so two cannot be added exactly.
//
// An instant query is only rewritten and sharded.
//
// [Stats] carry one request's figures (split parts, shards, cache hits) for
// the frontend's slow-query log; put them in the context with [WithStats].
package queryrange

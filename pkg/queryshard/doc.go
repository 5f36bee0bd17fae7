// Package queryshard is the one definition of a query shard, shared by the
// query frontend that writes shard matchers and the ingester and chunk
// store that honour them.
//
// A sharded sub-query selects one shard of series with a matcher
// __query_shard__="<i+1>_of_<N>" (1-based, Mimir's format). A series is in
// shard i of N when [labels.StableHash] of its labels modulo N is i: the
// hash Prometheus's TSDB computes for [storage.SelectHints] ShardCount and
// ShardIndex (the head keeps it per series when EnableSharding is set,
// persisted blocks compute it from the index). The ingester and the store
// hold overlapping data by design, so they must use this same hash or one
// series would fall into two shards.
//
// [Split] takes the shard matcher out of a selector; [Shard.Contains]
// decides membership; [Shard.Matcher] builds the matcher.
//
// [storage.SelectHints]: https://pkg.go.dev/github.com/prometheus/prometheus/storage#SelectHints
package queryshard

// Package querier is Hearth's read path: a [storage.Queryable] over the
// ingesters, the upstream PromQL engine, and the Prometheus HTTP API.
//
// [Querier] is the component. Its storage side fans every read out to the
// ingesters that [Instances] names (through [ring.ReplicationSet.Do], so the
// tolerated number of ingesters may fail), asks each with the client that
// [Clients] returns, and merges the answers: the chunks of one series from up
// to RF replicas go into one iterator that yields every distinct timestamp
// once, in order (see [MergeChunks]; the chunk store feeds the same merge).
//
// [Querier.Handler] serves the Prometheus HTTP API (query, query_range,
// series, labels, label values, metadata, query_exemplars, format_query,
// parse_query, status/buildinfo and remote read) under
// [Config.HTTPPrefix], with Prometheus's own JSON, error types and status
// codes: it mounts Prometheus's web/api/v1 handlers on Hearth's queryable.
// Every read is scoped to the tenant in the request's context; the caller
// wraps the handler with tenant middleware.
//
// Errors are classified in one place (errors.go): an ingester's per-query
// limit becomes 422 execution, an ingester outage beyond what the replication
// set tolerates 5xx, a deadline 503 timeout.
//
// [storage.Queryable]: https://pkg.go.dev/github.com/prometheus/prometheus/storage#Queryable
package querier

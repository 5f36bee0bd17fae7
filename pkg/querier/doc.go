// Package querier is Hearth's read path: a [storage.Queryable] over the
// ingesters, the upstream PromQL engine, and the Prometheus HTTP API.
//
// [Querier] is the component. Its storage side fans every read out to the
// ingesters that [Instances] names (through [ring.ReplicationSet.Do], so the
// tolerated number of ingesters may fail), asks each with the client that
// [Clients] returns, and merges the answers: the chunks of one series from up
// to RF replicas go into one iterator that yields every distinct timestamp
// once, in order (see [MergeChunks]).
//
// With a [Store] (the long-term chunk store, package chunk) the storage side
// routes each read by its time range, as Cortex does: the ingesters are asked
// when the range ends within [Config.QueryIngestersWithin] of now, the store
// for the part of the range older than now minus [Config.QueryStoreAfter].
// Both are read concurrently and the chunks of one series (identified by its
// labels) from both go into the same [MergeChunks], so the overlap of a block
// still in the ingesters and already flushed is read once. Label names, label
// values and series merge both sources too. No metric name is needed on
// either source. A store error fails the read (5xx), never leaving a partial
// result; the per-query limits (series, chunks, chunk bytes) apply to what
// the store returns as they apply in each ingester.
//
// Before the engine runs a query, the per-tenant query limits of
// exprlimits.go bound what it may cost (each refusal 400 bad_data): the
// expression's length, tokens and nesting, counted by one pass of the
// PromQL lexer before anything parses it (the parser takes no context and
// its time grows with tokens × depth); then, on the parsed expression, the
// steps of each subquery, the steps the engine would evaluate in all, and
// -querier.max-query-length. The expression is parsed once: the tree the
// checks parsed is handed to the engine through its Parser option.
//
// [Querier.Handler] serves the Prometheus HTTP API (query, query_range,
// series, labels, label values, metadata, query_exemplars, format_query,
// parse_query and remote read) under
// [Config.HTTPPrefix], with Prometheus's own JSON, error types and status
// codes: it mounts Prometheus's web/api/v1 handlers on Hearth's queryable.
// status/buildinfo (Hearth's identity and [Features]), status/runtimeinfo
// and status/tsdb are Hearth's own handlers in the same format (status.go).
// Every read is scoped to the tenant in the request's context; the caller
// wraps the handler with tenant middleware.
//
// Errors are classified in one place (errors.go): a per-query limit becomes
// 422 execution, an ingester outage beyond what the replication set
// tolerates or a store outage 503 unavailable, a corrupt store row 500, a
// deadline 503 timeout.
//
// [storage.Queryable]: https://pkg.go.dev/github.com/prometheus/prometheus/storage#Queryable
package querier

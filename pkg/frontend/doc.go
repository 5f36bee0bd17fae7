// Package frontend is the query frontend: the public entry point of the
// Prometheus query API in every deployment shape. It authenticates nothing
// itself (pkg/app binds the tenant to the request before [Frontend.Handler]
// sees it), queues each query in a per-tenant queue (package queue) and
// hands it to a querier that pulls work: over a gRPC stream
// ([Frontend.RegisterGRPC], package worker on the querier's side) in a
// cluster, or by an in-process loop ([Frontend.RunInProcess]) in the
// all-in-one.
//
// The handler admits a query, or refuses it with 429 when its tenant
// already has max_outstanding_requests_per_tenant queries in flight (a
// per-tenant limit; see [TooManyRequestsError]); what an admitted query
// queues is never refused.
//
// A request goes through an optional [Middleware] (the range-query
// middlewares: split, align, results cache, sharding) and then the queue
// round-tripper ([Frontend.RoundTrip]), which retries a request that failed
// with a 5xx or lost its querier up to -frontend.max-retries times. Each
// request carries a [Stats] in its context that the round-tripper and the
// middlewares fill; it feeds the slow-query log
// (-frontend.log-queries-longer-than) and the Server-Timing header, sent
// when the request has "X-Hearth-Query-Stats: true".
//
// On shutdown the frontend stops accepting (new queries get 503), lets the
// queriers drain its queue for -frontend.shutdown-grace-period, then fails
// what is left with 503.
package frontend

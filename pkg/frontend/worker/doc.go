// Package worker is the querier's side of the query frontend: it holds
// -querier.frontend-worker-parallelism gRPC streams to every address the
// -querier.frontend-address name resolves to (re-resolved every
// [DNSRefreshInterval]), and runs each request a frontend sends on the
// querier's own HTTP handler, with the tenant from the stream message in
// the handler's context. A cancellation from the frontend cancels that
// context. Streams that fail are reopened with backoff.
//
// pkg/app builds a [Worker] for a querier started with
// -querier.frontend-address; pkg/querier knows nothing of it.
package worker

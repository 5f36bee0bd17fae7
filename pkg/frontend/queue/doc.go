// Package queue holds the query frontend's queries until a querier takes
// them: one FIFO per tenant, dequeued round-robin across tenants so one
// tenant's backlog never delays another tenant's next query.
//
// A [Queue] refuses no request while it accepts: the frontend bounds each
// tenant's admitted queries at its HTTP handler
// (-frontend.max-outstanding-requests-per-tenant), and each admitted query
// queues at most -frontend.max-query-parallelism requests at once, so the
// queue is bounded by their product per tenant. It optionally
// shuffle-shards a tenant over a subset of the connected queriers
// (max_queriers_per_tenant):
// a querier only takes requests of tenants whose subset names it. Each
// querier worker keeps its own round-robin cursor ([Queue.Dequeue] takes
// and returns it), as Cortex's request queue does.
package queue

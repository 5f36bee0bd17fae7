// Package queue holds the query frontend's queries until a querier takes
// them: one FIFO per tenant, dequeued round-robin across tenants so one
// tenant's backlog never delays another tenant's next query.
//
// A [Queue] bounds each tenant's outstanding requests
// (-frontend.max-outstanding-requests-per-tenant; past it [Queue.Enqueue]
// returns a [*TooManyRequestsError]), and optionally shuffle-shards a
// tenant over a subset of the connected queriers (max_queriers_per_tenant):
// a querier only takes requests of tenants whose subset names it. Each
// querier worker keeps its own round-robin cursor ([Queue.Dequeue] takes
// and returns it), as Cortex's request queue does.
package queue

package queue

import (
	"container/list"
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Errors returned by the queue.
var (
	// ErrStopped is returned by Enqueue once the queue stops accepting
	// (the frontend is shutting down), and by Dequeue once it is closed.
	ErrStopped = errors.New("the query frontend is shutting down")
)

// Discard reasons, the reason label of hearth_query_frontend_discarded_requests_total.
const (
	reasonCancelled = "cancelled"
	reasonShutdown  = "shutdown"
)

// Entry is a queued request. It is returned by Enqueue and handed to
// Cancel; Value is what the caller queued.
type Entry struct {
	Value    any
	tenant   tenant.ID
	enqueued time.Time
	elem     *list.Element
	tq       *tenantQueue
}

// tenantQueue is one tenant's FIFO and the queriers that may serve it.
type tenantQueue struct {
	id    tenant.ID
	items list.List
	// maxQueriers is the tenant's max_queriers_per_tenant at its last
	// enqueue; queriers is the subset it picks (nil: every querier).
	maxQueriers int
	queriers    map[string]struct{}
}

// waiter is one waiting Dequeue.
type waiter struct {
	querier string
	wake    chan struct{} // buffered 1; signalled once, after removal from waiters
}

// Queue is the frontend's per-tenant queue. Its methods are safe for
// concurrent use.
type Queue struct {
	now func() time.Time

	mu      sync.Mutex
	tenants map[tenant.ID]*tenantQueue
	// order holds the tenants with queued requests in round-robin order;
	// a tenant whose queue empties leaves a hole ("") that the next new
	// tenant fills, so the other tenants' positions do not move.
	order []tenant.ID
	// queriers counts the connected workers of each querier.
	queriers  map[string]int
	lastSeen  map[tenant.ID]time.Time
	total     int
	accepting bool
	closed    bool
	// waiters are the Dequeue calls waiting for a request, oldest first.
	// A new request wakes one that may serve it (not all: ten idle workers
	// woken for one request would fight for the lock); a re-shard or the
	// close wakes them all.
	waiters []*waiter

	length    *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	discarded *prometheus.CounterVec
}

// New returns a queue. It refuses nothing while it accepts: the frontend
// admits queries at its HTTP handler (-frontend.max-outstanding-requests-per-tenant),
// and every request of an admitted query (split parts, shards, retries)
// must get a turn, so what the queue holds is bounded by admission: at most
// that limit times -frontend.max-query-parallelism requests per tenant.
func New(reg prometheus.Registerer) *Queue {
	f := promauto.With(reg)
	return &Queue{
		now:       time.Now,
		tenants:   map[tenant.ID]*tenantQueue{},
		queriers:  map[string]int{},
		lastSeen:  map[tenant.ID]time.Time{},
		accepting: true,
		length: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hearth_query_frontend_queue_length",
			Help: "Requests queued in the query frontend, by tenant.",
		}, []string{"tenant"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hearth_query_frontend_queue_duration_seconds",
			Help:    "Time requests spent in the query frontend's queue before a querier took them, by tenant.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5ms to ~131s
		}, []string{"tenant"}),
		discarded: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_discarded_requests_total",
			Help: "Requests that left the query frontend's queue without reaching a querier, by tenant and reason: cancelled (the client went away), shutdown.",
		}, []string{"tenant", "reason"}),
	}
}

// Enqueue queues v for tenant t. maxQueriers is the tenant's
// max_queriers_per_tenant (0: every querier).
func (q *Queue) Enqueue(t tenant.ID, v any, maxQueriers int) (*Entry, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.accepting {
		return nil, ErrStopped
	}
	q.lastSeen[t] = q.now()
	tq := q.tenants[t]
	if tq == nil {
		tq = &tenantQueue{id: t, maxQueriers: -1}
		q.tenants[t] = tq
		if i := slices.Index(q.order, ""); i >= 0 {
			q.order[i] = t
		} else {
			q.order = append(q.order, t)
		}
	}
	if tq.maxQueriers != maxQueriers {
		tq.maxQueriers = maxQueriers
		tq.queriers = q.shard(t, maxQueriers)
	}
	e := &Entry{Value: v, tenant: t, enqueued: q.now(), tq: tq}
	e.elem = tq.items.PushBack(e)
	q.total++
	q.length.WithLabelValues(string(t)).Inc()
	q.wakeOne(tq)
	return e, nil
}

// Cancel removes e from the queue if it is still there (the client went
// away before a querier took it), and reports whether it was.
func (q *Queue) Cancel(e *Entry) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e.elem == nil {
		return false
	}
	q.remove(e)
	q.discarded.WithLabelValues(string(e.tenant), reasonCancelled).Inc()
	return true
}

// remove takes e out of its tenant's queue; q.mu is held.
func (q *Queue) remove(e *Entry) {
	e.tq.items.Remove(e.elem)
	e.elem = nil
	q.total--
	q.length.WithLabelValues(string(e.tenant)).Dec()
	if e.tq.items.Len() == 0 {
		q.forget(e.tq)
	}
}

// forget drops an empty tenant queue; q.mu is held.
func (q *Queue) forget(tq *tenantQueue) {
	delete(q.tenants, tq.id)
	if i := slices.Index(q.order, tq.id); i >= 0 {
		q.order[i] = ""
	}
	for len(q.order) > 0 && q.order[len(q.order)-1] == "" {
		q.order = q.order[:len(q.order)-1]
	}
}

// Dequeue waits for a request that querier may serve and returns it with
// the querier worker's next cursor. A worker starts with cursor -1 and
// passes back what the previous call returned, so each worker goes round
// the tenants in turn. It returns ctx's error when ctx ends first, and
// ErrStopped once the queue is closed.
func (q *Queue) Dequeue(ctx context.Context, cursor int, querier string) (*Entry, int, error) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, cursor, ErrStopped
		}
		if e, next := q.next(cursor, querier); e != nil {
			q.mu.Unlock()
			return e, next, nil
		}
		w := &waiter{querier: querier, wake: make(chan struct{}, 1)}
		q.waiters = append(q.waiters, w)
		q.mu.Unlock()
		select {
		case <-w.wake:
		case <-ctx.Done():
			q.mu.Lock()
			if i := slices.Index(q.waiters, w); i >= 0 {
				q.waiters = slices.Delete(q.waiters, i, i+1)
			} else {
				// Woken for a request as ctx ended: pass it on.
				q.wakeAll()
			}
			q.mu.Unlock()
			return nil, cursor, ctx.Err()
		}
	}
}

// wakeOne wakes the oldest waiter that may serve tq; q.mu is held.
func (q *Queue) wakeOne(tq *tenantQueue) {
	for i, w := range q.waiters {
		if tq.queriers != nil {
			if _, ok := tq.queriers[w.querier]; !ok {
				continue
			}
		}
		q.waiters = slices.Delete(q.waiters, i, i+1)
		w.wake <- struct{}{}
		return
	}
}

// wakeAll wakes every waiter; q.mu is held.
func (q *Queue) wakeAll() {
	for _, w := range q.waiters {
		w.wake <- struct{}{}
	}
	q.waiters = q.waiters[:0]
}

// next pops the first request after cursor that querier may serve; q.mu
// is held.
func (q *Queue) next(cursor int, querier string) (*Entry, int) {
	n := len(q.order)
	if cursor >= n || cursor < -1 {
		cursor = -1
	}
	for i := 1; i <= n; i++ {
		idx := (cursor + i) % n
		tq := q.tenants[q.order[idx]]
		if tq == nil {
			continue
		}
		if tq.queriers != nil {
			if _, ok := tq.queriers[querier]; !ok {
				continue
			}
		}
		e := tq.items.Front().Value.(*Entry)
		q.remove(e)
		q.duration.WithLabelValues(string(e.tenant)).Observe(q.now().Sub(e.enqueued).Seconds())
		return e, idx
	}
	return nil, cursor
}

// RegisterQuerier records one more connected worker of querier; tenants
// with max_queriers_per_tenant are re-sharded when a querier appears.
func (q *Queue) RegisterQuerier(querier string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queriers[querier]++
	if q.queriers[querier] == 1 {
		q.reshard()
	}
}

// UnregisterQuerier records a worker of querier gone.
func (q *Queue) UnregisterQuerier(querier string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queriers[querier]--
	if q.queriers[querier] <= 0 {
		delete(q.queriers, querier)
		q.reshard()
	}
}

// reshard recomputes every tenant's querier subset; q.mu is held.
func (q *Queue) reshard() {
	for _, tq := range q.tenants {
		tq.queriers = q.shard(tq.id, tq.maxQueriers)
	}
	// Wake waiting workers: a querier may now serve a tenant it could not.
	q.wakeAll()
}

// shard picks n of the connected queriers for tenant t, the same ones for
// the same tenant and queriers (a shuffle seeded by the tenant), or nil
// (all) when n is 0 or not smaller than the queriers connected; q.mu is
// held.
func (q *Queue) shard(t tenant.ID, n int) map[string]struct{} {
	if n <= 0 || n >= len(q.queriers) {
		return nil
	}
	ids := make([]string, 0, len(q.queriers))
	for id := range q.queriers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	h := fnv.New64a()
	_, _ = h.Write([]byte(t))
	seed := h.Sum64()
	r := rand.New(rand.NewPCG(seed, seed>>1|1))
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	set := make(map[string]struct{}, n)
	for _, id := range ids[:n] {
		set[id] = struct{}{}
	}
	return set
}

// Len is the number of queued requests.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// Close stops accepting, ends every Dequeue with ErrStopped, and returns
// the requests still queued, removed from the queue, for the caller to
// fail.
func (q *Queue) Close() []*Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.accepting = false
	if !q.closed {
		q.closed = true
		q.wakeAll()
	}
	var left []*Entry
	for _, t := range q.order {
		tq := q.tenants[t]
		if tq == nil {
			continue
		}
		for el := tq.items.Front(); el != nil; el = el.Next() {
			left = append(left, el.Value.(*Entry))
		}
	}
	for _, e := range left {
		q.remove(e)
		q.discarded.WithLabelValues(string(e.tenant), reasonShutdown).Inc()
	}
	return left
}

// ForgetIdle deletes the metric series of tenants that queued nothing for
// idle and have nothing queued, and returns those tenants.
func (q *Queue) ForgetIdle(idle time.Duration) []tenant.ID {
	q.mu.Lock()
	defer q.mu.Unlock()
	cut := q.now().Add(-idle)
	var gone []tenant.ID
	for t, seen := range q.lastSeen {
		if seen.After(cut) || q.tenants[t] != nil {
			continue
		}
		delete(q.lastSeen, t)
		q.length.DeleteLabelValues(string(t))
		q.duration.DeleteLabelValues(string(t))
		q.discarded.DeletePartialMatch(prometheus.Labels{"tenant": string(t)})
		gone = append(gone, t)
	}
	return gone
}

// Enqueued is when the request was queued.
func (e *Entry) Enqueued() time.Time { return e.enqueued }

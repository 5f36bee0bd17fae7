package frontend

import (
	"fmt"
	"sync"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TooManyRequestsError is the handler's refusal of a tenant's query when
// the tenant already has Limit queries in flight in this frontend
// (-frontend.max-outstanding-requests-per-tenant).
type TooManyRequestsError struct {
	Tenant tenant.ID
	Limit  int
	// InFlight is the tenant's queries in flight when this one came.
	InFlight int
}

func (e *TooManyRequestsError) Error() string {
	return fmt.Sprintf("too many outstanding requests for tenant %q: %d queries in flight in this query frontend, the limit is %d (-frontend.max-outstanding-requests-per-tenant)", e.Tenant, e.InFlight, e.Limit)
}

// admission counts each tenant's queries admitted by the handler and not
// yet answered. A query counts once however many split parts, shards and
// retries it queues: those are never refused, so a query once admitted
// runs whole, and the queue holds at most the limit times
// -frontend.max-query-parallelism requests per tenant.
type admission struct {
	limit func(tenant.ID) int // 0: no limit

	mu       sync.Mutex
	inFlight map[tenant.ID]int // only tenants with queries in flight
}

func newAdmission(limit func(tenant.ID) int) *admission {
	return &admission{limit: limit, inFlight: map[tenant.ID]int{}}
}

// admit counts one query of id in flight, or refuses it with a
// [*TooManyRequestsError] when a tenant it reads is at its limit (a
// federated query counts against each of its tenants). The returned
// release must be called once the query is answered.
func (a *admission) admit(id tenant.ID) (release func(), err error) {
	ids := id.Tenants()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range ids {
		if limit := a.limit(t); limit > 0 && a.inFlight[t] >= limit {
			return nil, &TooManyRequestsError{Tenant: t, Limit: limit, InFlight: a.inFlight[t]}
		}
	}
	for _, t := range ids {
		a.inFlight[t]++
	}
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, t := range ids {
			if a.inFlight[t]--; a.inFlight[t] <= 0 {
				delete(a.inFlight, t)
			}
		}
	}, nil
}

package querier

import (
	"context"
	"net/http"
	"sync"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantSlots bounds the queries one tenant runs at once in this querier
// (limits' MaxConcurrentQueries, read on every query so overrides apply at
// once); the others wait for a slot, as in Cortex. 0 means no bound.
type tenantSlots struct {
	limits  Limits
	mu      sync.Mutex
	running map[tenant.ID]int
	// freed is closed, and forgotten, when a slot of the tenant frees up.
	freed map[tenant.ID]chan struct{}
}

func newTenantSlots(l Limits) *tenantSlots {
	return &tenantSlots{limits: l, running: map[tenant.ID]int{}, freed: map[tenant.ID]chan struct{}{}}
}

// acquire waits for a slot of id, or for ctx to end.
func (s *tenantSlots) acquire(ctx context.Context, id tenant.ID) (release func(), err error) {
	for {
		limit := 0
		if s.limits != nil {
			limit = s.limits.For(id).MaxConcurrentQueries
		}
		s.mu.Lock()
		if limit <= 0 || s.running[id] < limit {
			s.running[id]++
			s.mu.Unlock()
			return func() { s.release(id) }, nil
		}
		ch, ok := s.freed[id]
		if !ok {
			ch = make(chan struct{})
			s.freed[id] = ch
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (s *tenantSlots) release(id tenant.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[id]--; s.running[id] <= 0 {
		delete(s.running, id)
	}
	if ch, ok := s.freed[id]; ok {
		close(ch)
		delete(s.freed, id)
	}
}

// wrap runs next once the request's tenant has a slot. A request whose
// client gives up while waiting is answered 503, as a timeout.
func (s *tenantSlots) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		if err != nil {
			next.ServeHTTP(w, r) // The API answers a missing tenant itself.
			return
		}
		release, err := s.acquire(r.Context(), id)
		if err != nil {
			http.Error(w, "waiting for one of the tenant's -querier.max-concurrent-queries-per-tenant slots: "+err.Error()+" (err-hearth-max-concurrent-queries)", http.StatusServiceUnavailable)
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

package ring

import (
	"fmt"
	"sort"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Owner returns the one instance that owns key for work that must run in
// exactly one place (a ruler's rule group): the owner of the first token
// clockwise from key whose instance is ACTIVE and healthy. Unlike [Ring.Get]
// the walk goes past unhealthy instances, so a dead instance's keys move to
// the living within the heartbeat timeout. It fails with ErrEmptyRing when
// no instance is ACTIVE and healthy. The returned entry shares its Tokens
// with the ring and must not be modified.
func (r *Ring) Owner(key uint32) (ringpb.InstanceDesc, error) {
	nowMs := r.now().UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.tokens)
	start := sort.Search(n, func(i int) bool { return r.tokens[i] >= key })
	for i := range n {
		in := &r.instances[r.owners[(start+i)%n]]
		if in.State == Active && r.healthy(in, nowMs) {
			return *in, nil
		}
	}
	return ringpb.InstanceDesc{}, fmt.Errorf("ring %s: %w: no ACTIVE and healthy instance", r.name, ErrEmptyRing)
}

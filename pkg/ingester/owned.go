package ingester

import (
	"errors"
	"sync"

	"github.com/prometheus/prometheus/model/labels"
)

// One lookup per sample. The head keeps the label set a series is created
// with, and Push builds each series' labels in a reused buffer that may
// alias the request: the labels must be copied, but only for a new series.
// Asking the head first (GetRef) and appending by the returned ref costs
// two lookups of each series (by hash, then by ref), each a few cache
// misses in a large head. Instead, in the default build, Push appends with
// ref 0 and the scratch labels: an existing series is found by its labels
// in the one lookup of Append; for a new one the head asks its
// SeriesLifecycleCallback (the tenant's seriesLimiter), which refuses a
// label set it has not been shown as owned with errUnownedLabels before
// anything is created. Push then copies the labels, registers the copy
// with ownedLabels.allow, and appends again.

// errUnownedLabels refuses the creation of a series whose labels may
// alias memory the caller reuses. Push answers it by appending again with
// an owned copy; it never reaches a client.
var errUnownedLabels = errors.New("creating a series from labels not copied into owned memory")

// ownedLabels is the set of label sets, by the address of their memory,
// that a tenant's head may create series with. Only pushes that create
// series touch it; its lock is taken inside the head's series creation.
type ownedLabels struct {
	mu  sync.Mutex
	ids map[*byte]int
}

// allow lets the head create a series with lset (an owned copy) until
// the matching disallow.
func (o *ownedLabels) allow(lset labels.Labels) {
	id := labelsIdentity(lset)
	o.mu.Lock()
	if o.ids == nil {
		o.ids = map[*byte]int{}
	}
	o.ids[id]++
	o.mu.Unlock()
}

// disallow undoes allow.
func (o *ownedLabels) disallow(lset labels.Labels) {
	id := labelsIdentity(lset)
	o.mu.Lock()
	if n := o.ids[id] - 1; n > 0 {
		o.ids[id] = n
	} else {
		delete(o.ids, id)
	}
	o.mu.Unlock()
}

// check returns errUnownedLabels unless lset was allowed.
func (o *ownedLabels) check(lset labels.Labels) error {
	id := labelsIdentity(lset)
	o.mu.Lock()
	_, ok := o.ids[id]
	o.mu.Unlock()
	if !ok {
		return errUnownedLabels
	}
	return nil
}

package limits

import (
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// maxFederatedCached bounds the combined limits kept per table. A
// federated ID can come from a client (X-Scope-OrgID in trust-header
// mode), so the IDs asked for are not bounded; a real deployment asks for
// a few dozen combinations. At ~1 KiB a combination the cache holds at
// most ~1 MiB; past the bound it starts again empty.
const maxFederatedCached = 1024

// federatedCache holds the combined limits of federated IDs for one
// generation of the overrides. Safe for concurrent use; reads take no
// lock.
type federatedCache struct {
	limits sync.Map // tenant.ID → *Limits
	n      atomic.Int64
}

func (c *federatedCache) get(id tenant.ID) (*Limits, bool) {
	l, ok := c.limits.Load(id)
	if !ok {
		return nil, false
	}
	return l.(*Limits), true
}

func (c *federatedCache) put(id tenant.ID, l *Limits) {
	if c.n.Add(1) > maxFederatedCached {
		c.limits.Clear()
		c.n.Store(1)
	}
	c.limits.Store(id, l)
}

// federated returns the combined limits of the tenants of id, from
// table's cache or computed from table (so from one generation of the
// overrides) and cached.
func (o *Overrides) federated(table *overridesTable, id tenant.ID) *Limits {
	if l, ok := table.federated.get(id); ok {
		return l
	}
	l := o.combined(table, id.Tenants())
	table.federated.put(id, l)
	return l
}

// combined combines the limits of the tenants of a federated query into
// the most restrictive of each: the query as a whole is held to what every
// tenant it reads allows, while the reads of each tenant (series, chunks,
// bytes fetched) are held to that tenant's own limits by the per-tenant
// selects under it.
//
// Numbers take the smallest positive value (0 means unlimited, so it wins
// only when every tenant has it), unless the field is tagged
// `federate:"max"`, where a larger value is the more careful one (a
// freshness window that keeps recent results out of a cache). A boolean
// holds only when it holds for every tenant; a string only when all agree.
func (o *Overrides) combined(table *overridesTable, ids []tenant.ID) *Limits {
	out := *o.forTenant(table, ids[0])
	ov := reflect.ValueOf(&out).Elem()
	typ := ov.Type()
	for _, id := range ids[1:] {
		lv := reflect.ValueOf(o.forTenant(table, id)).Elem()
		for i := range ov.NumField() {
			combine(ov.Field(i), lv.Field(i), typ.Field(i).Tag.Get("federate") == "max")
		}
	}
	return &out
}

// combine folds the value v of one more tenant into acc.
func combine(acc, v reflect.Value, larger bool) {
	switch acc.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		a, b := acc.Int(), v.Int()
		if larger && b > a || !larger && b > 0 && (a <= 0 || b < a) {
			acc.SetInt(b)
		}
	case reflect.Float32, reflect.Float64:
		a, b := acc.Float(), v.Float()
		if larger && b > a || !larger && b > 0 && (a <= 0 || b < a) {
			acc.SetFloat(b)
		}
	case reflect.Bool:
		acc.SetBool(acc.Bool() && v.Bool())
	case reflect.String:
		if acc.String() != v.String() {
			acc.SetString("")
		}
	default:
		// Maps, slices and structs (external labels, attribute lists)
		// keep the first tenant's: nothing on a read path reads them.
	}
}

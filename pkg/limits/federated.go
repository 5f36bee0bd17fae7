package limits

import (
	"reflect"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// federated combines the limits of the tenants of a federated query into
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
func (o *Overrides) federated(ids []tenant.ID) *Limits {
	out := *o.For(ids[0])
	ov := reflect.ValueOf(&out).Elem()
	typ := ov.Type()
	for _, id := range ids[1:] {
		lv := reflect.ValueOf(o.For(id)).Elem()
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

package limits

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// BenchmarkOverridesFor measures [Overrides.For], which every query calls
// (often several times), for one tenant and for federated IDs of 2 and 10
// tenants, each with its own overrides.
func BenchmarkOverridesFor(b *testing.B) {
	var defaults Limits
	defaults.MaxSeriesPerQuery = 100
	perTenant := map[tenant.ID]*Limits{}
	var ids []string
	for i := range 10 {
		id := fmt.Sprintf("tenant-%02d", i)
		l := defaults
		l.MaxSeriesPerQuery = 10 + i
		perTenant[tenant.ID(id)] = &l
		ids = append(ids, id)
	}
	o := NewOverrides(defaults)
	o.Set(perTenant)
	for _, n := range []int{1, 2, 10} {
		id := tenant.ID(strings.Join(ids[:n], tenant.Separator))
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var sink *Limits
			for b.Loop() {
				sink = o.For(id)
			}
			if sink.MaxSeriesPerQuery != 10 {
				b.Fatalf("MaxSeriesPerQuery is %d, want 10", sink.MaxSeriesPerQuery)
			}
		})
	}
}

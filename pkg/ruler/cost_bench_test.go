package ruler

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// BenchmarkIdleTenantManagers measures what one tenant's rules manager
// costs while idle (one group of one rule, 1m interval): goroutines and
// heap per tenant, with and without an Alertmanager (its notifier).
func BenchmarkIdleTenantManagers(b *testing.B) {
	for _, am := range []bool{false, true} {
		b.Run(fmt.Sprintf("alertmanager=%v", am), func(b *testing.B) {
			const tenants = 200
			for b.Loop() {
				b.StopTimer()
				cfg := testConfig(b)
				cfg.PollInterval = time.Hour
				if am {
					cfg.AlertmanagerURL = "http://127.0.0.1:1"
				}
				store := newMemStore()
				for i := range tenants {
					store.set(b, tenant.ID(fmt.Sprintf("t%d", i)), "ns", "groups:\n- name: g\n  rules:\n  - record: r\n    expr: vector(1)\n")
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				b.StartTimer()
				h := startRulerB(b, cfg, store)
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&after)
				g1 := runtime.NumGoroutine()
				b.ReportMetric(float64(g1-g0)/tenants, "goroutines/tenant")
				b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/tenants, "heap-bytes/tenant")
				h.stop()
				b.StartTimer()
			}
		})
	}
}

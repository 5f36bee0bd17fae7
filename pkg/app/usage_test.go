package app

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/usage"
)

const receivedSamples = "hearth_distributor_received_samples_total"

// freeAddr returns a loopback address with a port free now, so a restarted
// process can listen where its clients already point.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// counterValue reads a counter of the process's registry for a tenant.
func counterValue(t *testing.T, reg *prometheus.Registry, name, tenantID string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenantID {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// tenantUsage asks GET /api/v1/usage as tenantID.
func tenantUsage(t *testing.T, httpAddr, tenantID string) usage.TenantUsage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+httpAddr+"/api/v1/usage", nil)
	require.NoError(t, err)
	req.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var u usage.TenantUsage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&u))
	require.Equal(t, tenantID, u.Tenant)
	return u
}

// operatorUsage asks the operator listener's /usage.
func operatorUsage(t *testing.T, p *testProcess) []usage.TenantUsage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.app.InternalAddr()+"/usage", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.app.operatorToken.Token.Reveal())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var all struct{ Tenants []usage.TenantUsage }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&all))
	return all.Tenants
}

func counterOf(u usage.TenantUsage, name string) uint64 {
	for _, c := range u.Counters {
		if c.Name == name && len(c.Labels) == 0 {
			return c.Value
		}
	}
	return 0
}

// traffic pushes seriesPerPush series at a time with Prometheus's
// remote-write client until stopped, counting the samples acknowledged
// (2xx) and those answered with an error status (received, then refused:
// the process was stopping). Pushes that got no answer never reached the
// handler.
type traffic struct {
	acked, refused atomic.Int64
	lastRefusal    atomic.Value
	stop           chan struct{}
	wg             sync.WaitGroup
}

const seriesPerPush = 10

func startTraffic(t *testing.T, httpAddr, tenantID string) *traffic {
	t.Helper()
	tr := &traffic{stop: make(chan struct{})}
	p := newPusher(t, httpAddr, tenantID)
	base := time.Now().Add(-time.Minute)
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-tr.stop:
				return
			default:
			}
			err := p.push(context.Background(), seriesPerPush, base.Add(time.Duration(i)*time.Millisecond), float64(i))
			switch {
			case err == nil:
				tr.acked.Add(seriesPerPush)
			case strings.Contains(err.Error(), "server returned HTTP status"):
				tr.refused.Add(seriesPerPush)
				tr.lastRefusal.Store(err.Error())
			default:
				// Connection refused or reset: nothing was read. Wait for
				// the next process, without spinning.
				select {
				case <-tr.stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(tr.halt)
	return tr
}

func (tr *traffic) halt() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.wg.Wait()
}

// TestUsageExactAcrossAGracefulRestart restarts the all-in-one (SIGTERM's
// path: the context ends) while Prometheus's remote-write client pushes,
// with a persist interval too long to fire: the counters and the ledger
// continue from what the stopping process wrote after its last answer.
func TestUsageExactAcrossAGracefulRestart(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	flags := func(instance string) []string {
		return []string{"-storage.dir=" + dir, "-server.http-listen-address=" + httpAddr, "-usage.instance-id=" + instance, "-usage.persist-interval=1h"}
	}
	p1 := startProcess(t, TargetAll, flags("hearth-1")...)
	tr := startTraffic(t, httpAddr, "team-a")
	require.Eventually(t, func() bool { return tr.acked.Load() >= 300 }, 20*time.Second, 5*time.Millisecond)

	p1.shutdown() // Mid-traffic.
	first := counterValue(t, p1.reg, receivedSamples, "team-a")
	ackedAtStop := tr.acked.Load()
	require.GreaterOrEqual(t, first, float64(300))

	p2 := startProcess(t, TargetAll, flags("hearth-1")...)
	require.GreaterOrEqual(t, counterValue(t, p2.reg, receivedSamples, "team-a"), first, "the counter continues from the stopped process's")
	require.Eventually(t, func() bool { return tr.acked.Load() >= ackedAtStop+300 }, 20*time.Second, 5*time.Millisecond)
	tr.halt()

	acked, refused := tr.acked.Load(), tr.refused.Load()
	second := counterValue(t, p2.reg, receivedSamples, "team-a")
	live := counterOf(tenantUsage(t, httpAddr, "team-a"), receivedSamples)
	require.Equal(t, uint64(second), live, "the ledger is the continued counter")
	// Received counts every sample the distributor read: acknowledged, or
	// refused with a 5xx while the process stopped (the client retries
	// those; they are not discarded).
	require.Equal(t, uint64(acked+refused), live, "every sample received is counted once")
	t.Logf("acknowledged %d, refused while stopping %d (%v), counted %d", acked, refused, tr.lastRefusal.Load(), live)

	// Stopped and started again without traffic: exactly what was counted.
	p2.shutdown()
	p3 := startProcess(t, TargetAll, flags("hearth-1")...)
	require.Equal(t, live, counterOf(tenantUsage(t, httpAddr, "team-a"), receivedSamples))

	// A process under another instance ID (a Deployment's new pod) starts
	// its counters at zero; the ledger sums its row with the old one.
	p3.shutdown()
	p4 := startProcess(t, TargetAll, flags("hearth-2")...)
	require.Zero(t, counterValue(t, p4.reg, receivedSamples, "team-a"))
	require.NoError(t, newPusher(t, httpAddr, "team-a").push(context.Background(), 5, time.Now(), 1))
	require.Equal(t, live+5, counterOf(tenantUsage(t, httpAddr, "team-a"), receivedSamples))
	all := operatorUsage(t, p4)
	require.Len(t, all, 1)
	require.Equal(t, live+5, counterOf(all[0], receivedSamples))
}

// TestUsageIsolationAndDeletion: a tenant sees only its own usage, the
// operator every tenant's, and deleting a tenant removes its ledger rows.
func TestUsageIsolationAndDeletion(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freeAddr(t)
	flags := []string{"-storage.dir=" + dir, "-server.http-listen-address=" + httpAddr, "-usage.instance-id=hearth-1", "-usage.store-scan-interval=1s"}
	p := startProcess(t, TargetAll, flags...)
	ctx := context.Background()
	require.NoError(t, newPusher(t, httpAddr, "team-a").push(ctx, 3, time.Now(), 1))
	require.NoError(t, newPusher(t, httpAddr, "team-b").push(ctx, 7, time.Now(), 1))

	a := tenantUsage(t, httpAddr, "team-a")
	b := tenantUsage(t, httpAddr, "team-b")
	require.Equal(t, uint64(3), counterOf(a, receivedSamples))
	require.Equal(t, uint64(7), counterOf(b, receivedSamples))
	require.Zero(t, counterOf(tenantUsage(t, httpAddr, "team-c"), receivedSamples))
	require.Len(t, operatorUsage(t, p), 2)

	// Flushed to the store, each tenant's chunks are measured there.
	req, err := http.NewRequest(http.MethodPost, "http://"+p.app.InternalAddr()+"/ingester/flush", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.app.operatorToken.Token.Reveal())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Less(t, resp.StatusCode, 300)
	require.Eventually(t, func() bool {
		return counterOf(tenantUsage(t, httpAddr, "team-a"), usage.StoredBytesName) > 0 &&
			counterOf(tenantUsage(t, httpAddr, "team-b"), usage.StoredBytesName) > 0
	}, 20*time.Second, 50*time.Millisecond)

	// Written, then the tenant deleted: its rows go, and the process's
	// next write does not bring them back.
	require.NoError(t, p.app.usage.Persist(ctx))
	req, err = http.NewRequest(http.MethodPost, "http://"+p.app.InternalAddr()+"/admin/tenants/team-a/delete", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+p.app.operatorToken.Token.Reveal())
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.NoError(t, p.app.usage.Persist(ctx))
	p.shutdown()

	p = startProcess(t, TargetAll, flags...)
	all := operatorUsage(t, p)
	require.Len(t, all, 1)
	require.Equal(t, "team-b", all[0].Tenant)
	require.Empty(t, tenantUsage(t, httpAddr, "team-a").Counters)
	require.Equal(t, uint64(7), counterOf(tenantUsage(t, httpAddr, "team-b"), receivedSamples))
}

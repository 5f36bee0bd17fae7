//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestQueryFrontendAcrossProcesses runs a query frontend and two queriers
// that pull from it, next to the distributor, ingesters and store of the
// read-path cluster. Queries through the frontend equal Prometheus's; a
// querier killed with SIGKILL under load loses no query; a frontend given
// SIGTERM turns not ready and drains what it holds; a frontend killed with
// SIGKILL fails its in-flight query, and a restarted one serves new ones.
func TestQueryFrontendAcrossProcesses(t *testing.T) {
	c := startCluster(t)
	d := newDataset(time.Now())
	d.push(t, c.distributor.httpAddr, "team-a")
	ref := d.reference(t)

	seed := c.ingesters[0].gossip
	frontend := newProcess(t, "query-frontend", "query-frontend", t.TempDir(), append(c.emulator.storeFlags(), "-frontend.shutdown-grace-period=60s")...)
	frontend.env = []string{"BIGTABLE_EMULATOR_HOST=" + c.emulator.addr}
	frontend.start(t)
	frontend.waitReady(t)
	var queriers []*process
	for i := range 2 {
		q := newProcess(t, fmt.Sprintf("querier-worker-%d", i), "querier", t.TempDir(),
			append(c.emulator.storeFlags(), "-memberlist.join="+seed, "-querier.frontend-address="+frontend.grpcAddr, "-querier.frontend-worker-parallelism=4")...)
		q.env = []string{"BIGTABLE_EMULATOR_HOST=" + c.emulator.addr}
		q.start(t)
		queriers = append(queriers, q)
	}
	for _, q := range queriers {
		q.waitReady(t)
		require.Eventuallyf(t, func() bool {
			return q.metric(t, "hearth_ring_members", `name="ingester"`, `state="ACTIVE"`) == 3
		}, 30*time.Second, 50*time.Millisecond, "%s never saw the ingesters", q.name)
	}
	require.Eventually(t, func() bool { return frontend.metric(t, "hearth_query_frontend_connected_workers") == 8 },
		30*time.Second, 50*time.Millisecond, "the queriers never connected to the frontend")

	api := apiClient(t, frontend.httpAddr, "team-a")
	// Processes restarted in a subtest must outlive it: they are started
	// with the test's t, whose cleanup stops them.
	outer := t
	requireSameAsReference(t, api, ref, d)

	t.Run("a querier killed under load loses no query", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var ok, failed atomic.Int64
		var firstErr atomic.Value
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := promRange(d)
				for ctx.Err() == nil {
					_, _, _, err := api.QueryRange(context.Background(), `sum by (job) (rate(e2e_requests_total[5m]))`, r)
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err.Error())
						continue
					}
					ok.Add(1)
				}
			}()
		}
		require.Eventually(t, func() bool { return queriers[0].metric(t, "hearth_querier_frontend_worker_requests_total") >= 20 },
			30*time.Second, 10*time.Millisecond)
		queriers[0].kill(t)
		after := ok.Load()
		require.Eventually(t, func() bool { return ok.Load() >= after+50 }, 60*time.Second, 10*time.Millisecond)
		cancel()
		wg.Wait()
		t.Logf("%d queries answered, %d failed, %g retried by the frontend", ok.Load(), failed.Load(), frontend.metric(t, "hearth_query_frontend_retries_total"))
		require.Zerof(t, failed.Load(), "first error: %v", firstErr.Load())
	})

	survivor := queriers[1]
	t.Run("SIGTERM: not ready, drains what it holds", func(t *testing.T) {
		// A stopped querier holds the query the frontend gave it.
		dispatched := frontend.metric(t, "hearth_query_frontend_queue_duration_seconds_count")
		require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGSTOP))
		result := make(chan error, 1)
		go func() {
			_, _, _, err := api.Query(context.Background(), `count(e2e_temperature)`, time.Now())
			result <- err
		}()
		require.Eventually(t, func() bool {
			return frontend.metric(t, "hearth_query_frontend_queue_duration_seconds_count") > dispatched
		},
			30*time.Second, 10*time.Millisecond, "the query never reached the querier")
		require.NoError(t, frontend.cmd.Process.Signal(syscall.SIGTERM))
		require.Eventually(t, func() bool { return publicReady(frontend) == http.StatusServiceUnavailable },
			30*time.Second, 10*time.Millisecond, "the stopping frontend stayed ready")
		require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGCONT))
		require.NoError(t, <-result, "the query in flight at SIGTERM was not drained")
		require.NoError(t, frontend.cmd.Wait(), "the frontend did not exit cleanly")
	})

	t.Run("SIGKILL fails the in-flight query; a restarted frontend serves", func(t *testing.T) {
		frontend.start(outer)
		frontend.waitReady(t)
		require.Eventually(t, func() bool { return frontend.metric(t, "hearth_query_frontend_connected_workers") == 4 },
			60*time.Second, 50*time.Millisecond, "the querier never reconnected")
		require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGSTOP))
		result := make(chan error, 1)
		go func() {
			_, _, _, err := api.Query(context.Background(), `count(e2e_temperature)`, time.Now())
			result <- err
		}()
		require.Eventually(t, func() bool { return frontend.metric(t, "hearth_query_frontend_queue_duration_seconds_count") >= 1 },
			30*time.Second, 10*time.Millisecond, "the query never reached the querier")
		frontend.kill(t)
		require.Error(t, <-result, "a query in flight on a killed frontend must fail")
		require.NoError(t, survivor.cmd.Process.Signal(syscall.SIGCONT))

		frontend.start(outer)
		frontend.waitReady(t)
		res, _, _, err := api.Query(context.Background(), `count(e2e_temperature)`, d.start.Add(30*time.Minute))
		require.NoError(t, err)
		require.Equal(t, model.SampleValue(15), res.(model.Vector)[0].Value)
	})

	for _, p := range []*process{survivor, frontend} {
		p.terminate(t)
	}
}

func promRange(d dataset) promv1.Range {
	return promv1.Range{Start: d.start.Add(10 * time.Minute), End: d.start.Add(time.Duration(d.points-1) * d.step), Step: 15 * time.Second}
}

// publicReady is the status of the public /ready, or 0 when it does not
// answer.
func publicReady(p *process) int {
	resp, err := http.Get("http://" + p.httpAddr + "/ready")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

//go:build integration && fault

package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFaultRollingRestart restarts the three ingesters of an RF=3 cluster
// one at a time (SIGTERM, restart on the same data directory, wait until
// ready and back in the distributor's and querier's ring) while the
// checker pushes and reads back every second: no acknowledged sample is
// lost and no query fails.
func TestFaultRollingRestart(t *testing.T) {
	begin := beginFault(t)
	c := startCluster(t)
	run := startChecker(t, begin, c.distributor.httpAddr, c.querier.httpAddr)
	run.waitAcknowledged(30)

	for _, ing := range c.ingesters {
		ing.terminate(t)
		t.Logf("Stopped %s with SIGTERM: %+v", ing.name, run.c.Progress())
		ing.start(t)
		ing.waitReady(t)
		c.waitActiveIngesters(t, 3)
		t.Logf("Restarted %s: %s", ing.name, ing.metrics(t, "hearth_ingester_memory_series", "hearth_ingester_tsdb_data_replay_duration_seconds"))
		// The restarted ingester takes writes again before the next one
		// stops, or two replicas could be down at once.
		replayed := ing.metric(t, "hearth_ingester_ingested_samples_total")
		require.Eventuallyf(t, func() bool {
			return ing.metric(t, "hearth_ingester_ingested_samples_total") > replayed
		}, time.Minute, 20*time.Millisecond, "%s takes no writes after its restart", ing.name)
		run.waitAcknowledged(30)
	}

	s := run.verify()
	run.report(s)
	requireNothingLost(t, s)
	require.Zero(t, s.QueryFailures, "queries failed during the rolling restart")
	require.Zero(t, s.PeriodicIncomplete, "read-backs during the run missed acknowledged samples")
}

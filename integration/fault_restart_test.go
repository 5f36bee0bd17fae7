//go:build integration && fault

package integration

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFaultRollingRestart restarts the three ingesters of an RF=3 cluster
// one at a time (SIGTERM, restart on the same data directory, wait until
// ready and back in the distributor's and querier's ring) while the
// checker pushes and reads back every second: no acknowledged sample is
// lost and no query fails.
func TestFaultRollingRestart(t *testing.T) {
	c := startCluster(t)
	run := startChecker(t, c.distributor.httpAddr, c.querier.httpAddr)
	run.waitAcknowledged(30)

	for _, ing := range c.ingesters {
		ing.terminate(t)
		t.Logf("Stopped %s with SIGTERM: %+v", ing.name, run.c.Progress())
		ing.start(t)
		ing.waitReady(t)
		c.waitActiveIngesters(t, 3)
		t.Logf("Restarted %s: %s", ing.name, ing.metrics(t, "hearth_ingester_memory_series", "hearth_ingester_tsdb_data_replay_duration_seconds"))
		// Enough pushes for the distributor to use the restarted ingester
		// again before the next one stops.
		run.waitAcknowledged(30)
	}

	s := run.verify()
	run.report(s)
	requireNothingLost(t, s)
	require.Zero(t, s.QueryFailures, "queries failed during the rolling restart")
	require.Zero(t, s.PeriodicIncomplete, "read-backs during the run missed acknowledged samples")
}

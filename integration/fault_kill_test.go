//go:build integration && fault

package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFaultKillOnlyIngester kills the all-in-one (RF=1, the only
// ingester) with SIGKILL under load and restarts it on the same data
// directory, three times: every acknowledged sample is queryable afterwards (the WAL
// holds what was acknowledged).
func TestFaultKillOnlyIngester(t *testing.T) {
	begin := beginFault(t)
	p := newProcess(t, "all-in-one", "hearth", t.TempDir(), "-target=all")
	p.start(t)
	p.waitReady(t)
	run := startChecker(t, begin, p.httpAddr, p.httpAddr)
	run.waitAcknowledged(30)

	// Three times: a kill lands at a different point of a push each time.
	for i := range 3 {
		before := run.c.Progress()
		p.kill(t)
		t.Logf("Killed the all-in-one with SIGKILL (%d of 3) after %d acknowledged pushes", i+1, before.PushesAcknowledged)
		require.Eventually(t, func() bool {
			now := run.c.Progress()
			return now.TransportErrors+now.Responses5xx > before.TransportErrors+before.Responses5xx
		}, time.Minute, 10*time.Millisecond, "pushes kept succeeding with the only ingester dead")

		p.start(t)
		p.waitReady(t)
		t.Logf("Restarted on the same data directory: %s", p.metrics(t, "hearth_ingester_memory_series", "hearth_ingester_tsdb_data_replay_duration_seconds"))
		run.waitAcknowledged(30)
	}

	s := run.verify()
	run.report(s)
	requireNothingLost(t, s)
	require.Positive(t, s.PushesRetried, "no push was retried: the kill came too late or too early")
}

// TestFaultKillOneOfThreeIngesters kills one ingester of an RF=3 cluster
// with SIGKILL under load and leaves it down: pushes keep succeeding (2 of
// 3 replicas are a quorum) and every acknowledged sample is queryable.
func TestFaultKillOneOfThreeIngesters(t *testing.T) {
	begin := beginFault(t)
	c := startCluster(t)
	run := startChecker(t, begin, c.distributor.httpAddr, c.querier.httpAddr)
	run.waitAcknowledged(30)

	before := run.c.Progress()
	c.ingesters[1].kill(t)
	t.Logf("Killed %s with SIGKILL after %d acknowledged pushes", c.ingesters[1].name, before.PushesAcknowledged)
	run.waitAcknowledged(100)

	s := run.verify()
	run.report(s)
	requireNothingLost(t, s)
	require.Zero(t, s.PushesRetried, "pushes failed with one ingester of three down")
	require.Zero(t, s.PeriodicIncomplete, "read-backs during the run missed acknowledged samples")
}

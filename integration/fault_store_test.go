//go:build integration && fault

package integration

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// flushMetrics are the ingester's flush-backlog metrics, for logs.
var flushMetrics = []string{
	"hearth_ingester_flush_queue_length",
	"hearth_ingester_flush_failures_total",
	"hearth_ingester_oldest_unflushed_block_age_seconds",
	"hearth_ingester_flushed_blocks_total",
	"hearth_chunk_bigtable_retries_total",
}

// TestFaultStoreOutage cuts the ingesters off the chunk store (a TCP proxy
// in front of the Bigtable emulator closes every connection and refuses
// new ones) under load while blocks are due to be flushed (1m blocks, and
// a forced flush during the outage): ingestion goes on, the flush backlog
// shows in the metrics, and once the store is back every block is flushed
// and every acknowledged sample is queryable, in the end from the store
// alone (ingesters replaced by empty ones).
func TestFaultStoreOutage(t *testing.T) {
	begin := beginFault(t)
	em := startEmulator(t)
	proxy := startProxy(t, em.addr)
	c := startClusterWith(t, clusterOptions{
		emulator:      em,
		ingesterStore: proxy.addr,
		// The querier asks the store for every range (and the ingesters).
		extra:         []string{"-querier.query-store-after=0"},
		ingesterExtra: []string{"-ingester.block-range=1m", "-ingester.head-compaction-interval=5s", "-ingester.flush-op-timeout=5s"},
	})
	run := startChecker(t, begin, c.distributor.httpAddr, c.querier.httpAddr)
	run.waitAcknowledged(30)

	// The store works: a forced flush goes through.
	for _, ing := range c.ingesters {
		status, err := ing.operatorPostWithin(t, "/ingester/flush", time.Minute)
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, status, "flushing %s", ing.name)
	}
	run.waitAcknowledged(20)

	proxy.cut()
	cutAt := time.Now()
	before := run.c.Progress()
	t.Logf("Store cut off from the ingesters: %+v", before)
	// Flushing now queues every head's data as blocks that cannot be
	// written: the request gives up, the blocks stay queued.
	for _, ing := range c.ingesters {
		status, err := ing.operatorPostWithin(t, "/ingester/flush", 3*time.Second)
		t.Logf("POST /ingester/flush on %s during the outage: status %d, err %v", ing.name, status, err)
		require.NotEqual(t, http.StatusNoContent, status, "%s flushed with the store cut off", ing.name)
	}
	queued := make([]float64, len(c.ingesters))
	for i, ing := range c.ingesters {
		require.Eventuallyf(t, func() bool {
			queued[i] = ing.metric(t, "hearth_ingester_flush_queue_length")
			// The Bigtable client retries Unavailable for as long as its
			// context lasts: each write fails after -ingester.flush-op-timeout.
			return queued[i] > 0 && ing.metric(t, "hearth_ingester_oldest_unflushed_block_age_seconds") > 0 &&
				ing.metric(t, "hearth_ingester_flush_failures_total") > 0
		}, time.Minute, 100*time.Millisecond, "%s shows no flush backlog: %s", ing.name, ing.metrics(t, flushMetrics...))
		t.Logf("%s after the forced flush: %s", ing.name, ing.metrics(t, flushMetrics...))
	}
	// Ingestion goes on through the outage until a regular compaction
	// (1.5 block ranges after the forced one) queues one more block.
	for i, ing := range c.ingesters {
		require.Eventuallyf(t, func() bool {
			return ing.metric(t, "hearth_ingester_flush_queue_length") > queued[i]
		}, 3*time.Minute, 100*time.Millisecond, "%s compacted no block during the outage: %s", ing.name, ing.metrics(t, flushMetrics...))
		t.Logf("%s during the outage: %s", ing.name, ing.metrics(t, flushMetrics...))
	}
	during := run.c.Progress()
	require.Greater(t, during.PushesAcknowledged, before.PushesAcknowledged+100, "ingestion stalled while the store was down")
	require.Equal(t, before.PushesRetried, during.PushesRetried, "pushes failed while the store was down")

	proxy.restore(t)
	restoredAt := time.Now()
	t.Logf("Store restored after an outage of %s", restoredAt.Sub(cutAt).Round(time.Second))
	for _, ing := range c.ingesters {
		require.Eventuallyf(t, func() bool {
			return ing.metric(t, "hearth_ingester_flush_queue_length") == 0 &&
				ing.metric(t, "hearth_ingester_oldest_unflushed_block_age_seconds") == 0
		}, 3*time.Minute, 100*time.Millisecond, "%s never flushed its backlog: %s", ing.name, ing.metrics(t, flushMetrics...))
		t.Logf("%s flushed its backlog %s after the store came back: %s", ing.name, time.Since(restoredAt).Round(time.Second), ing.metrics(t, flushMetrics...))
	}
	run.waitAcknowledged(20)
	s := run.verify()
	requireNothingLost(t, s)

	// Everything into the store, then ingesters with nothing on disk: the
	// store alone answers.
	for _, ing := range c.ingesters {
		status, err := ing.operatorPostWithin(t, "/ingester/flush", 2*time.Minute)
		require.NoError(t, err)
		require.Equal(t, http.StatusNoContent, status, "flushing %s", ing.name)
	}
	for _, ing := range c.ingesters {
		ing.kill(t)
		require.NoError(t, os.RemoveAll(ing.dataDir))
		require.NoError(t, os.MkdirAll(ing.dataDir, 0o700))
		ing.start(t)
	}
	for _, ing := range c.ingesters {
		ing.waitReady(t)
	}
	c.waitActiveIngesters(t, 3)
	for _, ing := range c.ingesters {
		require.Zero(t, ing.metric(t, "hearth_ingester_memory_series"), "%s should start empty", ing.name)
	}
	s = run.verify()
	t.Logf("Read back from the store alone")
	run.report(s)
	requireNothingLost(t, s)
	require.Zero(t, s.PushesRetried, "pushes failed during the store outage")
}

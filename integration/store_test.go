//go:build integration

package integration

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFlushedDataOutlivesIngesters pushes through a distributor into three
// ingesters, flushes them to the Bigtable emulator, then replaces every
// ingester with an empty one (no WAL, no blocks) and reads the same answers
// back from the store alone.
func TestFlushedDataOutlivesIngesters(t *testing.T) {
	// The querier asks the store for every range (and the ingesters too).
	c := startCluster(t, "-querier.query-store-after=0")
	d := newDataset(time.Now())
	d.push(t, c.distributor.httpAddr, "team-a")
	ref := d.reference(t)
	api := apiClient(t, c.querier.httpAddr, "team-a")
	requireSameAsReference(t, api, ref, d)

	for _, ing := range c.ingesters {
		resp := ing.operatorPost(t, "/ingester/flush")
		require.Equal(t, http.StatusNoContent, resp.StatusCode, "flushing %s", ing.name)
		require.Positive(t, ing.metric(t, "hearth_ingester_flushed_blocks_total"), ing.name)
	}

	// Every ingester loses its memory, WAL and blocks.
	for _, ing := range c.ingesters {
		ing.kill(t)
		require.NoError(t, os.RemoveAll(ing.dataDir))
		require.NoError(t, os.MkdirAll(ing.dataDir, 0o700))
		ing.start(t)
	}
	for _, ing := range c.ingesters {
		ing.waitReady(t)
	}
	require.Eventually(t, func() bool {
		return c.querier.metric(t, "hearth_ring_members", `name="ingester"`, `state="ACTIVE"`) == 3
	}, 30*time.Second, 50*time.Millisecond)
	for _, ing := range c.ingesters {
		require.Zero(t, ing.metric(t, "hearth_ingester_memory_series"), "%s should start empty", ing.name)
	}
	requireSameAsReference(t, api, ref, d)
}

package chunk_test

import (
	"testing"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
	wcbigtable "github.com/hearthmetrics/hearth/pkg/widecolumn/bigtable"
)

// TestConformance runs the store's suite on every backend: Pebble,
// Bigtable on bttest, and Bigtable with tiny ApplyBulk calls and read
// batches, so splitting a row over calls and parallel batches are used.
func TestConformance(t *testing.T) {
	backends := map[string]chunktest.NewBackend{
		"pebble":   func(t testing.TB) chunk.Backend { return backendtest.NewPebble(t) },
		"bigtable": func(t testing.TB) chunk.Backend { return backendtest.NewBigtable(t) },
		"bigtable, small batches": func(t testing.TB) chunk.Backend {
			return backendtest.NewBigtableWith(t, func(o *wcbigtable.Options) {
				o.MaxMutationsPerCall = 7
				o.ReadBatchSize = 3
			})
		},
	}
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) { chunktest.Run(t, newBackend) })
	}
}

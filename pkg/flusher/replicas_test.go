package flusher

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
)

// TestReplicasStoreIdenticalChunksOnce flushes the same samples from one
// ingester, then from three (replication factor 3, each with its own store
// client, as three processes) into one table, and compares the stored
// bytes: identical replica chunks are stored once. Then one replica misses
// 10 minutes of one series: its chunks for that series differ and are kept
// beside the others, and the merged samples are still complete.
//
// The RF=3 ÷ RF=1 ratio is logged:
//
//	go test ./pkg/flusher -run TestReplicasStoreIdenticalChunksOnce -v
func TestReplicasStoreIdenticalChunksOnce(t *testing.T) {
	// 30 series, 4h at 15s: two 2h blocks of 120-sample chunks.
	full := data{series: 30, from: base, to: base + 4*hour - 15000, step: 15000}
	missing := full
	missing.skip = func(series int, ts int64) bool {
		return series == 0 && ts >= base+hour+5*minute && ts < base+hour+15*minute
	}
	// (A replica missing a whole chunk's worth of samples, 30m aligned on
	// the chunks, writes a subset of the others' chunks: nothing new.)
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) {
			one := newBackend(t)
			oneStore, oneWritten := flushReplicas(t, one, full)
			rf1 := storedBytes(t, one)

			three := newBackend(t)
			threeStore, threeWritten := flushReplicas(t, three, full, full, full)
			rf3 := storedBytes(t, three)
			require.Equal(t, full.expected(), stored(t, threeStore, "t1"))
			t.Logf("identical replicas: RF=1 stores %d bytes, RF=3 stores %d bytes: ratio %.3f (bytes sent: %.0f vs %.0f, ratio %.2f)",
				rf1, rf3, float64(rf3)/float64(rf1), oneWritten, threeWritten, threeWritten/oneWritten)
			require.Equal(t, rf1, rf3, "identical replica chunks are stored once")

			gap := newBackend(t)
			gapStore, _ := flushReplicas(t, gap, full, full, missing)
			rf3gap := storedBytes(t, gap)
			t.Logf("one replica missing 10m of 1 series in 30: RF=3 stores %d bytes: ratio %.3f", rf3gap, float64(rf3gap)/float64(rf1))
			require.Greater(t, rf3gap, rf1)
			require.Equal(t, full.expected(), stored(t, gapStore, "t1"), "merged at query time")

			// Only the series with the gap has more chunks than with one
			// replica: the complete replicas' and the other's.
			oneChunks, gapChunks := chunkCounts(t, oneStore), chunkCounts(t, gapStore)
			for ls, n := range oneChunks {
				if ls == seriesLabels(0).String() {
					require.Greater(t, gapChunks[ls], n, ls)
				} else {
					require.Equal(t, n, gapChunks[ls], ls)
				}
			}
		})
	}
}

// flushReplicas starts one ingester per data set, each with its own
// flusher and store client over backend b, pushes the data to tenant t1
// and flushes everything. It returns one of the stores and the bytes all
// of them sent.
func flushReplicas(t *testing.T, b chunk.Backend, replicas ...data) (*chunk.Store, float64) {
	t.Helper()
	ctx := context.Background()
	var (
		store *chunk.Store
		sent  float64
	)
	for _, d := range replicas {
		reg := prometheus.NewPedanticRegistry()
		s, err := chunk.New(b, chunk.DefaultOptions(), discard(), reg)
		require.NoError(t, err)
		n := startNode(t, t.TempDir(), s)
		d.push(t, n, "t1")
		require.NoError(t, n.fl.FlushAll(ctx, n.ing))
		sent += chunktest.MetricValue(t, reg, "hearth_chunk_written_bytes_total")
		store = s
	}
	return store, sent
}

func chunkCounts(t *testing.T, s *chunk.Store) map[string]int {
	t.Helper()
	m, err := labels.NewMatcher(labels.MatchEqual, "__name__", "m")
	require.NoError(t, err)
	got, err := s.Select(context.Background(), "t1", 0, 1<<50, m)
	require.NoError(t, err)
	out := map[string]int{}
	for _, sr := range got {
		out[sr.Labels.String()] = len(sr.Chunks)
	}
	return out
}

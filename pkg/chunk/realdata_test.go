package chunk_test

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/chunk/chunktest"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	wcpebble "github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

// TestRealdataBytes replays a real Prometheus's TSDB (kept by
// `KEEP=.cache/realdata scripts/realdata.sh`) into the store on Pebble, the
// way the flusher writes it: one flush per block range (REALDATA_BLOCK,
// default 30m), chunks cut as the head cuts them (~120 samples, evenly
// within the block). It logs the written bytes per sample split by row
// kind and part, and Pebble's sstables after a full compaction.
// REALDATA_TILE=n repeats the capture n times end to end (a longer run
// from a short capture: every seam is a counter reset, and the series are
// the same); it prices written bytes only: on disk, the copies compress
// against each other (a series' windows are neighbours), so the sstable
// figure is not logged. REALDATA_PEBBLE_BLOCK sets Pebble's block size;
// REALDATA_ONLY=C (or SP, ...) writes only those row kinds, for the
// sstable bytes of each. Skipped unless REALDATA_TSDB names the TSDB directory:
//
//	REALDATA_TSDB=$PWD/.cache/realdata/prom go test -run TestRealdataBytes -v ./pkg/chunk/
func TestRealdataBytes(t *testing.T) {
	dir := os.Getenv("REALDATA_TSDB")
	if dir == "" {
		t.Skip("REALDATA_TSDB not set")
	}
	blockRange := 30 * time.Minute
	if v := os.Getenv("REALDATA_BLOCK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		blockRange = d
	}
	series := readTSDB(t, dir)
	if v := os.Getenv("REALDATA_TILE"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		series = tile(series, n)
	}
	ctx := context.Background()

	o := wcpebble.DefaultOptions()
	o.Dir, o.NoSync = t.TempDir(), true
	if v := os.Getenv("REALDATA_PEBBLE_BLOCK"); v != "" { // sstable block size in bytes
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		o.BlockSize = n
	}
	pb, err := wcpebble.Open(o, nil)
	require.NoError(t, err)
	acct := &accountingBackend{Backend: pb, bytes: map[string]int{}}
	s, _ := chunktest.NewStore(t, acct, nil)

	mint, maxt := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sr := range series {
		mint, maxt = min(mint, sr.ts[0]), max(maxt, sr.ts[len(sr.ts)-1])
	}
	br := blockRange.Milliseconds()
	total := 0
	for w := mint - mint%br; w <= maxt; w += br {
		var batch []chunk.SeriesChunks
		samples := 0
		for _, sr := range series {
			cs, n := headChunks(t, sr, w, w+br)
			if n == 0 {
				continue
			}
			samples += n
			batch = append(batch, chunk.SeriesChunks{Labels: sr.ls, Chunks: cs})
		}
		before := acct.total()
		for i := 0; i < len(batch); i += 1000 {
			_, err := s.WriteSeries(ctx, "realdata", batch[i:min(i+1000, len(batch))])
			require.NoError(t, err)
		}
		total += samples
		t.Logf("window %s: %d series, %d samples, %.3f B/sample written", time.UnixMilli(w).UTC().Format("15:04"),
			len(batch), samples, float64(acct.total()-before)/float64(samples))
	}
	require.NoError(t, pb.Compact(ctx))
	// Closed, Pebble has deleted the sstables the compaction replaced.
	require.NoError(t, pb.Close())
	sst := 0
	require.NoError(t, filepath.WalkDir(o.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".sst") {
			return err
		}
		info, err := d.Info()
		sst += int(info.Size())
		return err
	}))
	t.Logf("%d series, %d samples, block range %s, pebble blocks %d B", len(series), total, blockRange, o.BlockSize)
	for _, k := range []string{"C key", "C column", "C header", "C data", "S", "P", "N"} {
		t.Logf("  %-9s %9d bytes %.3f B/sample", k, acct.bytes[k], float64(acct.bytes[k])/float64(total))
	}
	t.Logf("written (keys, columns, values): %.3f B/sample", float64(acct.total())/float64(total))
	if os.Getenv("REALDATA_TILE") == "" {
		t.Logf("pebble sstables after compaction: %d bytes, %.3f B/sample", sst, float64(sst)/float64(total))
	}
}

type realSeries struct {
	ls labels.Labels
	ts []int64
	vs []float64
}

func readTSDB(t *testing.T, dir string) []realSeries {
	db, err := tsdb.OpenDBReadOnly(dir, t.TempDir(), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	require.NoError(t, err)
	defer func() { require.NoError(t, q.Close()) }()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var out []realSeries
	var it chunkenc.Iterator
	for ss.Next() {
		sr := realSeries{ls: ss.At().Labels()}
		it = ss.At().Iterator(it)
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			if vt != chunkenc.ValFloat {
				continue
			}
			ts, v := it.At()
			sr.ts, sr.vs = append(sr.ts, ts), append(sr.vs, v)
		}
		require.NoError(t, it.Err())
		if len(sr.ts) > 0 {
			out = append(out, sr)
		}
	}
	require.NoError(t, ss.Err())
	require.NotEmpty(t, out, "no series in %s", dir)
	return out
}

// tile repeats every series' samples n times, each copy shifted by the
// capture's span plus 15s.
func tile(series []realSeries, n int) []realSeries {
	mint, maxt := int64(math.MaxInt64), int64(math.MinInt64)
	for _, sr := range series {
		mint, maxt = min(mint, sr.ts[0]), max(maxt, sr.ts[len(sr.ts)-1])
	}
	span := maxt - mint + 15000
	for i := range series {
		ts, vs := series[i].ts, series[i].vs
		for k := 1; k < n; k++ {
			for j := range ts {
				series[i].ts = append(series[i].ts, ts[j]+int64(k)*span)
				series[i].vs = append(series[i].vs, vs[j])
			}
		}
	}
	return series
}

// headChunks returns the XOR chunks of sr's samples in [from, to), cut into
// chunks of at most 120 samples of equal size, as the head does within a
// block.
func headChunks(t *testing.T, sr realSeries, from, to int64) ([]chunk.Chunk, int) {
	var idx []int
	for i, ts := range sr.ts {
		if ts >= from && ts < to {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil, 0
	}
	n := (len(idx) + 119) / 120
	per := (len(idx) + n - 1) / n
	var out []chunk.Chunk
	for start := 0; start < len(idx); start += per {
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		require.NoError(t, err)
		part := idx[start:min(start+per, len(idx))]
		for _, i := range part {
			app.Append(0, sr.ts[i], sr.vs[i])
		}
		out = append(out, chunk.Chunk{MinTime: sr.ts[part[0]], MaxTime: sr.ts[part[len(part)-1]], Encoding: chunkenc.EncXOR, Data: c.Bytes()})
	}
	return out, len(idx)
}

// accountingBackend counts the bytes of every cell applied, by row kind
// and, for chunk rows, by part (key, column, cell header, chunk data).
type accountingBackend struct {
	*wcpebble.Backend
	bytes map[string]int
}

func (a *accountingBackend) total() int {
	n := 0
	for _, v := range a.bytes {
		n += v
	}
	return n
}

func (a *accountingBackend) Apply(ctx context.Context, muts []widecolumn.RowMutation) error {
	for _, m := range muts {
		_, _, rest, err := widecolumn.Chunks.ParseBucket(m.Key)
		if err != nil {
			return fmt.Errorf("accounting: %w", err)
		}
		kind := string(rest[:1])
		if only := os.Getenv("REALDATA_ONLY"); only != "" && !strings.Contains(only, kind) {
			continue
		}
		for _, c := range m.Cells {
			if kind != "C" {
				a.bytes[kind] += len(m.Key) + len(c.Column) + len(c.Value)
				continue
			}
			data := chunkDataLen(c.Value)
			a.bytes["C key"] += len(m.Key)
			a.bytes["C column"] += len(c.Column)
			a.bytes["C header"] += len(c.Value) - data
			a.bytes["C data"] += data
		}
	}
	if only := os.Getenv("REALDATA_ONLY"); only != "" {
		var keep []widecolumn.RowMutation
		for _, m := range muts {
			if _, _, rest, _ := widecolumn.Chunks.ParseBucket(m.Key); strings.Contains(only, string(rest[:1])) {
				keep = append(keep, m)
			}
		}
		muts = keep
	}
	return a.Backend.Apply(ctx, muts)
}

// chunkDataLen is the length of the chunk data in a chunk cell (what
// follows the header).
func chunkDataLen(cell []byte) int {
	c, err := chunk.DecodeChunkCell(cell)
	if err != nil {
		return 0
	}
	return len(c.Data)
}

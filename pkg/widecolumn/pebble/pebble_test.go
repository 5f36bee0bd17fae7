package pebble

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBackend(t testing.TB) widecolumn.Backend {
	t.Helper()
	o := DefaultOptions()
	o.Dir = t.TempDir()
	o.NoSync = true
	b, err := Open(o, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

func TestConformance(t *testing.T) { widecolumntest.Run(t, newBackend) }

func TestReopen(t *testing.T) {
	o := DefaultOptions()
	o.Dir = t.TempDir()
	b, err := Open(o, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{Key: []byte("k"), Cells: []widecolumn.Cell{{Column: []byte("c"), Value: []byte("v")}}}}))
	require.NoError(t, b.Close())
	// Close flushed the memtable: the cell is in an sstable, not only in
	// the WAL.
	ssts, err := filepath.Glob(filepath.Join(o.Dir, "*.sst"))
	require.NoError(t, err)
	require.NotEmpty(t, ssts)
	b, err = Open(o, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	rows := widecolumntest.Dump(t, b)
	require.Len(t, rows, 1)
	require.Equal(t, "v", string(rows[0].Cells[0].Value))
}

func TestOptionsValidate(t *testing.T) {
	err := Options{BlockCacheBytes: -1}.Validate()
	require.ErrorContains(t, err, "directory")
	require.ErrorContains(t, err, "block cache")
	require.ErrorContains(t, err, "block size")
}

func TestCompact(t *testing.T) {
	o := DefaultOptions()
	o.Dir, o.NoSync = t.TempDir(), true
	b, err := Open(o, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, b.Close()) }()
	ctx := context.Background()
	for _, k := range []string{"a", "b\x00", "\xff\xff"} {
		require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{Key: []byte(k), Cells: []widecolumn.Cell{{Column: []byte("c"), Value: []byte(k)}}}}))
	}
	require.NoError(t, b.Compact(ctx))
	require.Len(t, widecolumntest.Dump(t, b), 3)
	ssts, err := filepath.Glob(filepath.Join(o.Dir, "*.sst"))
	require.NoError(t, err)
	require.Len(t, ssts, 1, "one compacted sstable")
}

func TestCellKeyRoundTrip(t *testing.T) {
	cases := map[string]struct{ row, col string }{
		"plain":               {"row", "col"},
		"zero bytes":          {"\x00a\x00", "\x00\x01"},
		"0xff and terminator": {"\xff\x00\x01", ""},
		"empty row":           {"", "c"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			row, col, err := decodeCellKey(appendCellKey(nil, []byte(tc.row), []byte(tc.col)))
			require.NoError(t, err)
			require.Equal(t, tc.row, string(row))
			require.Equal(t, tc.col, string(col))
		})
	}
}

func FuzzDecodeCellKey(f *testing.F) {
	f.Add([]byte("row\x00\x01col"))
	f.Add([]byte("\x00\xff\x00\x01"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, key []byte) {
		row, col, err := decodeCellKey(key)
		if err != nil {
			return
		}
		require.Equal(t, key, appendCellKey(nil, row, col))
	})
}

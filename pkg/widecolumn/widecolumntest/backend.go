package widecolumntest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

func cell(col, val string) widecolumn.Cell {
	return widecolumn.Cell{Column: []byte(col), Value: []byte(val)}
}

func keysOf(rows []widecolumn.Row) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, string(r.Key))
	}
	return out
}

// testBackend checks the Backend contract on raw rows, keys with any bytes
// included.
func testBackend(t *testing.T, newBackend NewBackend) {
	ctx := context.Background()
	b := newBackend(t)
	rows := []widecolumn.RowMutation{
		{Key: []byte("a"), Cells: []widecolumn.Cell{cell("c1", "1"), cell("c2", "2"), cell("c3", "3")}},
		{Key: []byte("a\x00"), Cells: []widecolumn.Cell{cell("x", "nul")}},
		{Key: []byte("a\x00\xff"), Cells: []widecolumn.Cell{cell("x", "nulff")}},
		{Key: []byte("a\xff"), Cells: []widecolumn.Cell{cell("x", "ff")}},
		{Key: []byte("ab"), Cells: []widecolumn.Cell{cell("", "empty column"), cell("x", "ab")}},
		{Key: []byte("b1"), Cells: []widecolumn.Cell{cell("x", "b1")}},
		{Key: []byte("b2"), Cells: []widecolumn.Cell{cell("x", "b2")}},
		{Key: []byte("c"), Cells: []widecolumn.Cell{cell("x", "c")}},
	}
	require.NoError(t, b.Apply(ctx, rows))
	// Setting the same cell again leaves one cell with the new value.
	require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{Key: []byte("c"), Cells: []widecolumn.Cell{cell("x", "c again")}}}))

	read := func(t *testing.T, req widecolumn.ReadRequest) []widecolumn.Row {
		t.Helper()
		var out []widecolumn.Row
		require.NoError(t, b.Read(ctx, req, func(r widecolumn.Row) bool {
			out = append(out, r)
			return true
		}))
		return out
	}
	r := func(ks ...string) []widecolumn.KeyRange {
		out := make([]widecolumn.KeyRange, 0, len(ks)/2)
		for i := 0; i < len(ks); i += 2 {
			out = append(out, widecolumn.KeyRange{Start: []byte(ks[i]), End: []byte(ks[i+1])})
		}
		return out
	}
	cases := map[string]struct {
		req  widecolumn.ReadRequest
		keys []string
	}{
		"keys, absent ones skipped": {
			req:  widecolumn.ReadRequest{Keys: [][]byte{[]byte("c"), []byte("a\x00"), []byte("zz"), []byte("c")}},
			keys: []string{"a\x00", "c"},
		},
		"prefix with zero bytes": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange([]byte("a\x00"))}},
			keys: []string{"a\x00", "a\x00\xff"},
		},
		"prefix": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange([]byte("a"))}},
			keys: []string{"a", "a\x00", "a\x00\xff", "ab", "a\xff"},
		},
		"two ranges, half-open": {
			req:  widecolumn.ReadRequest{Ranges: r("a\x00\xff", "a\xff", "b2", "c\x00")},
			keys: []string{"a\x00\xff", "ab", "b2", "c"},
		},
		"open end": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{Start: []byte("b2")}}},
			keys: []string{"b2", "c"},
		},
		"row key regex": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{}}, RowKeyRegex: `b.|a\x00\xff`},
			keys: []string{"a\x00\xff", "b1", "b2"},
		},
		"limit": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange([]byte("a"))}, Limit: 2},
			keys: []string{"a", "a\x00"},
		},
		"column range drops rows without cells": {
			req:  widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange([]byte("a"))}, ColumnStart: []byte("c2"), ColumnEnd: []byte("c4")},
			keys: []string{"a"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.keys, keysOf(read(t, tc.req)))
		})
	}

	t.Run("cells sorted, latest value, cells per row", func(t *testing.T) {
		got := read(t, widecolumn.ReadRequest{Keys: [][]byte{[]byte("a"), []byte("c"), []byte("ab")}})
		require.Equal(t, []widecolumn.Row{
			{Key: []byte("a"), Cells: []widecolumn.Cell{cell("c1", "1"), cell("c2", "2"), cell("c3", "3")}},
			{Key: []byte("ab"), Cells: []widecolumn.Cell{cell("", "empty column"), cell("x", "ab")}},
			{Key: []byte("c"), Cells: []widecolumn.Cell{cell("x", "c again")}},
		}, got)
		got = read(t, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange([]byte("a"))}, CellsPerRow: 1, ColumnStart: []byte("c2"), ColumnEnd: []byte("zz")})
		require.Equal(t, []widecolumn.Row{{Key: []byte("a"), Cells: []widecolumn.Cell{cell("c2", "2")}}}, got[:1])
		require.Len(t, got, 5)
	})
	t.Run("stop early", func(t *testing.T) {
		n := 0
		require.NoError(t, b.Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{}}}, func(widecolumn.Row) bool {
			n++
			return false
		}))
		require.Equal(t, 1, n)
	})
	t.Run("invalid requests", func(t *testing.T) {
		err := b.Read(ctx, widecolumn.ReadRequest{}, func(widecolumn.Row) bool { return true })
		require.ErrorIs(t, err, widecolumn.ErrUnsupported)
		require.Error(t, b.DropPrefix(ctx, nil))
	})
	t.Run("drop prefix", func(t *testing.T) {
		require.NoError(t, b.DropPrefix(ctx, []byte("a\x00")))
		require.Equal(t, []string{"a", "ab", "a\xff", "b1", "b2", "c"}, keysOf(read(t, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{}}})))
		require.NoError(t, b.DropPrefix(ctx, []byte("b")))
		require.Equal(t, []string{"a", "ab", "a\xff", "c"}, keysOf(read(t, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{}}})))
	})
}

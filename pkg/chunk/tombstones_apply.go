package chunk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// ApplyTombstones makes tenant's tombstones created before createdBefore
// (milliseconds) permanent: it rewrites every chunk row holding a chunk
// with deleted samples (the chunk dropped, or re-encoded without them),
// bumps the tenant's rewrite generation so no Store's chunk cache serves
// a row as it was, and then removes those tombstones. It returns how many
// it applied.
//
// A rewrite is logged first (a redo row per chunk row, in namespace
// widecolumn.Tombstones) and the log is replayed at the start of the next
// call, so a rewrite cut short by a crash is completed, never half done.
// Calls for one tenant must not run concurrently (the retention enforcer
// runs them one tenant at a time). Series rows and postings stay: label
// names and values still list a series whose samples were all deleted, as
// Prometheus's do until its blocks are compacted.
func (s *Store) ApplyTombstones(ctx context.Context, tenant string, createdBefore int64) (int, error) {
	if err := s.replayRedo(ctx, tenant); err != nil {
		return 0, err
	}
	st, err := s.tombstones(ctx, tenant)
	if err != nil {
		return 0, err
	}
	var due []storedTombstone
	for _, t := range st.list {
		if t.Created < createdBefore {
			due = append(due, t)
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	redo, err := s.planRewrites(ctx, tenant, due)
	if err != nil {
		return 0, err
	}
	if len(redo) > 0 {
		if err := s.apply(ctx, redo); err != nil {
			return 0, fmt.Errorf("writing the rewrite log of tenant %q: %w", tenant, err)
		}
		if err := s.replayRedo(ctx, tenant); err != nil {
			return 0, err
		}
		if err := s.bumpGeneration(ctx, tenant, st.gen); err != nil {
			return 0, err
		}
	}
	for _, t := range due {
		if err := s.drop(ctx, t.key); err != nil {
			return 0, fmt.Errorf("removing an applied tombstone of tenant %q: %w", tenant, err)
		}
	}
	s.logger.Info("Applied tombstones", "tenant", tenant, "tombstones", len(due), "rewritten_rows", len(redo))
	return len(due), nil
}

// affected is a chunk with deleted samples and what remains of it.
type affected struct {
	orig      Chunk
	remaining []Chunk
}

// planRewrites returns the redo rows that apply the tombstones ts: one per
// chunk row holding a chunk that loses samples.
func (s *Store) planRewrites(ctx context.Context, tenant string, ts []storedTombstone) ([]widecolumn.RowMutation, error) {
	type seriesPlan struct {
		ivs      []interval
		affected map[string]affected // by chunk column
	}
	plans := map[SeriesID]*seriesPlan{}
	var firstKeys [][]byte
	owner := map[string]SeriesID{}
	for _, t := range ts {
		hits, err := s.selectSeries(ctx, tenant, t.Start, t.End, t.Matchers)
		if err != nil {
			return nil, fmt.Errorf("finding the series of a tombstone of tenant %q: %w", tenant, err)
		}
		for _, h := range hits {
			if _, ok := plans[h.id]; ok {
				continue
			}
			ivs := deletedIntervals(ts, h.labels, 0, 1<<62)
			plans[h.id] = &seriesPlan{ivs: ivs, affected: map[string]affected{}}
			for _, b := range h.buckets {
				for _, iv := range ivs {
					lo, hi := max(iv.mint, s.schema.bucketStart(b), 0), min(iv.maxt, s.schema.bucketEnd(b))
					for w := s.schema.windowOf(lo); w <= hi; w += s.schema.windowMillis {
						k := chunkKey(nil, tenant, b, h.id, w)
						if _, dup := owner[string(k)]; !dup {
							owner[string(k)] = h.id
							firstKeys = append(firstKeys, k)
						}
					}
				}
			}
		}
	}
	rows, err := s.readChunkRows(ctx, firstKeys)
	if err != nil {
		return nil, err
	}
	// Every row of every window an affected chunk overlaps holds it.
	var moreKeys [][]byte
	for k, cells := range rows {
		id := owner[k]
		p := plans[id]
		for _, c := range cells {
			ch, err := decodeChunkCell(c.Value)
			if err != nil {
				s.metrics.corruptRows.Inc()
				return nil, fmt.Errorf("decoding chunk in row %x of tenant %q: %w", k, tenant, err)
			}
			if _, seen := p.affected[string(c.Column)]; seen || !overlapsIntervals(p.ivs, ch.MinTime, ch.MaxTime) {
				continue
			}
			rest, err := deleteSamples(ch, p.ivs)
			if err != nil {
				return nil, fmt.Errorf("rewriting chunk in row %x of tenant %q: %w", k, tenant, err)
			}
			p.affected[string(c.Column)] = affected{orig: ch, remaining: rest}
			for w := s.schema.windowOf(ch.MinTime); w <= ch.MaxTime; w += s.schema.windowMillis {
				k2 := chunkKey(nil, tenant, s.schema.bucketOf(w), id, w)
				if _, dup := owner[string(k2)]; !dup {
					owner[string(k2)] = id
					moreKeys = append(moreKeys, k2)
				}
			}
		}
	}
	more, err := s.readChunkRows(ctx, moreKeys)
	if err != nil {
		return nil, err
	}
	for k, cells := range more {
		rows[k] = cells
	}

	var redo []widecolumn.RowMutation
	for k, cells := range rows {
		p := plans[owner[k]]
		w, err := chunkWindow([]byte(k))
		if err != nil {
			return nil, err
		}
		var rc []widecolumn.Cell
		for _, c := range cells {
			a, ok := p.affected[string(c.Column)]
			if !ok {
				continue
			}
			rc = append(rc, widecolumn.Cell{Column: append([]byte{'x'}, c.Column...)})
			for _, r := range a.remaining {
				if s.schema.windowOf(r.MinTime) <= w && w <= r.MaxTime {
					rc = append(rc, widecolumn.Cell{Column: append([]byte{'k'}, chunkColumn(nil, r)...), Value: appendChunkCell(nil, r)})
				}
			}
		}
		if len(rc) == 0 {
			continue
		}
		rc = append(rc, widecolumn.Cell{Column: []byte(redoMarker)})
		slices.SortFunc(rc, func(a, b widecolumn.Cell) int { return bytes.Compare(a.Column, b.Column) })
		rc = slices.CompactFunc(rc, func(a, b widecolumn.Cell) bool { return bytes.Equal(a.Column, b.Column) })
		redo = append(redo, widecolumn.RowMutation{Key: append(tombstonePrefix(nil, tenant, redoKind), k...), Cells: rc})
	}
	slices.SortFunc(redo, func(a, b widecolumn.RowMutation) int { return bytes.Compare(a.Key, b.Key) })
	return redo, nil
}

// chunkWindow returns the window start of a chunk row key.
func chunkWindow(key []byte) (int64, error) {
	p, err := parseKey(key)
	if err != nil {
		return 0, err
	}
	if p.Kind != kindChunks {
		return 0, fmt.Errorf("%w: row %x is not a chunk row", ErrCorrupt, key)
	}
	return p.WindowTime, nil
}

// readChunkRows reads rows by key, bypassing the cache.
func (s *Store) readChunkRows(ctx context.Context, keys [][]byte) (map[string][]widecolumn.Cell, error) {
	out := map[string][]widecolumn.Cell{}
	if len(keys) == 0 {
		return out, nil
	}
	slices.SortFunc(keys, bytes.Compare)
	err := s.read(ctx, widecolumn.ReadRequest{Keys: keys}, func(r widecolumn.Row) bool {
		out[string(r.Key)] = r.Cells
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading chunk rows: %w", err)
	}
	return out, nil
}

// replayRedo carries out every logged rewrite of tenant: the chunk row is
// read, the removed cells taken out and the kept ones added, the row
// dropped and written again, and the log row removed. Replaying a row
// twice gives the same row.
func (s *Store) replayRedo(ctx context.Context, tenant string) error {
	prefix := tombstonePrefix(nil, tenant, redoKind)
	var logged []widecolumn.Row
	err := s.read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}}, func(r widecolumn.Row) bool {
		logged = append(logged, r)
		return true
	})
	if err != nil {
		return fmt.Errorf("reading the rewrite log of tenant %q: %w", tenant, err)
	}
	for _, r := range logged {
		key := r.Key[len(prefix):]
		if _, err := chunkWindow(key); err != nil {
			s.metrics.corruptRows.Inc()
			return fmt.Errorf("rewrite log row %x of tenant %q: %w", r.Key, tenant, err)
		}
		cur, err := s.readChunkRows(ctx, [][]byte{slices.Clone(key)})
		if err != nil {
			return err
		}
		cells := map[string][]byte{}
		for _, c := range cur[string(key)] {
			cells[string(c.Column)] = c.Value
		}
		// Removals first: a chunk that lost no sample may come back
		// re-encoded as itself, under the same column.
		for _, c := range r.Cells {
			if len(c.Column) > 0 && c.Column[0] == 'x' {
				delete(cells, string(c.Column[1:]))
			}
		}
		for _, c := range r.Cells {
			if len(c.Column) > 0 && c.Column[0] == 'k' {
				cells[string(c.Column[1:])] = c.Value
			}
		}
		if err := s.drop(ctx, key); err != nil {
			return fmt.Errorf("dropping chunk row %x of tenant %q for its rewrite: %w", key, tenant, err)
		}
		if len(cells) > 0 {
			m := widecolumn.RowMutation{Key: slices.Clone(key)}
			for c, v := range cells {
				m.Cells = append(m.Cells, widecolumn.Cell{Column: []byte(c), Value: v})
			}
			slices.SortFunc(m.Cells, func(a, b widecolumn.Cell) int { return bytes.Compare(a.Column, b.Column) })
			if err := s.apply(ctx, []widecolumn.RowMutation{m}); err != nil {
				return fmt.Errorf("writing rewritten chunk row %x of tenant %q: %w", key, tenant, err)
			}
		}
		s.chunkCache.remove(string(key))
		if err := s.drop(ctx, r.Key); err != nil {
			return fmt.Errorf("removing rewrite log row of tenant %q: %w", tenant, err)
		}
	}
	return nil
}

// bumpGeneration writes a rewrite generation different from prev.
func (s *Store) bumpGeneration(ctx context.Context, tenant string, prev []byte) error {
	next := uint64(s.now().UnixNano())
	if len(prev) == 8 {
		next = max(next, binary.BigEndian.Uint64(prev)+1)
	}
	m := widecolumn.RowMutation{
		Key:   tombstonePrefix(nil, tenant, generationKind),
		Cells: []widecolumn.Cell{{Column: []byte("g"), Value: binary.BigEndian.AppendUint64(nil, next)}},
	}
	if err := s.apply(ctx, []widecolumn.RowMutation{m}); err != nil {
		return fmt.Errorf("writing the rewrite generation of tenant %q: %w", tenant, err)
	}
	return nil
}

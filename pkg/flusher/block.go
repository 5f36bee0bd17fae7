package flusher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/tsdb/index"

	"github.com/hearthmetrics/hearth/pkg/chunk"
)

// errBlockGone says the block's directory no longer exists (its tenant was
// deleted): there is nothing left to flush.
var errBlockGone = errors.New("block directory is gone")

// flushWithRetries flushes j until it succeeds, its directory disappears
// or ctx ends, waiting with exponential backoff between attempts. An
// attempt resumes after the series earlier attempts wrote.
func (f *Flusher) flushWithRetries(ctx context.Context, j *job) error {
	start := f.now()
	wait := f.minBackoff
	for attempt := 1; ; attempt++ {
		err := f.flushBlock(ctx, j)
		if err == nil {
			f.metrics.duration.Observe(f.now().Sub(start).Seconds())
			f.recordFlush()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, statErr := os.Stat(j.dir); errors.Is(statErr, os.ErrNotExist) {
			f.logger.Warn("Block directory gone before it was flushed", "tenant", j.tenant, "block", j.meta.ULID, "err", err)
			return errBlockGone
		}
		f.metrics.failures.Inc()
		f.recordFailure(fmt.Errorf("flushing block %s of tenant %s: %w", j.meta.ULID, j.tenant, err))
		f.logger.Warn("Flushing block failed, retrying", "tenant", j.tenant, "block", j.meta.ULID,
			"attempt", attempt, "written_series", j.done, "backoff", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, f.maxBackoff)
	}
}

// flushBlock writes every series of j's block after the first j.done, in
// batches, then marks the block flushed.
func (f *Flusher) flushBlock(ctx context.Context, j *job) (err error) {
	b, err := tsdb.OpenBlock(f.logger, j.dir, nil, nil)
	if err != nil {
		return fmt.Errorf("opening block: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("block", b.Close())) }()
	ir, err := b.Index()
	if err != nil {
		return fmt.Errorf("opening block index: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("block index", ir.Close())) }()
	cr, err := b.Chunks()
	if err != nil {
		return fmt.Errorf("opening block chunks: %w", err)
	}
	defer func() { err = errors.Join(err, closeErr("block chunks", cr.Close())) }()

	name, value := index.AllPostingsKey()
	postings, err := ir.Postings(ctx, name, value)
	if err != nil {
		return fmt.Errorf("reading postings: %w", err)
	}
	var (
		builder labels.ScratchBuilder
		metas   []chunks.Meta
		batch   = make([]chunk.SeriesChunks, 0, batchSeries)
		seen    int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		dropped, err := f.write(ctx, j, batch)
		if err != nil {
			return err
		}
		nChunks, nBytes := 0, 0
		for _, s := range batch {
			nChunks += len(s.Chunks)
			for _, c := range s.Chunks {
				nBytes += len(c.Data)
			}
		}
		f.metrics.flushedSeries.Add(float64(len(batch) - dropped))
		f.metrics.flushedChunks.Add(float64(nChunks))
		f.metrics.flushedBytes.Add(float64(nBytes))
		f.metrics.tenantBytes.WithLabelValues(string(j.tenant)).Add(float64(nBytes))
		j.done += len(batch)
		j.chunks += nChunks
		j.bytes += nBytes
		j.dropped += dropped
		batch = batch[:0]
		return nil
	}
	for postings.Next() {
		if seen++; seen <= j.done {
			continue // Written by an earlier attempt.
		}
		if err := ir.Series(postings.At(), &builder, &metas); err != nil {
			return fmt.Errorf("reading series: %w", err)
		}
		sc := chunk.SeriesChunks{Labels: builder.Labels(), Chunks: make([]chunk.Chunk, 0, len(metas))}
		for _, m := range metas {
			c, iterable, err := cr.ChunkOrIterable(m)
			if err != nil {
				return fmt.Errorf("reading chunk of series %.200q: %w", sc.Labels.String(), err)
			}
			if c == nil {
				// Blocks hold encoded chunks; an iterable would mean an
				// in-memory reader, which a block never is.
				return fmt.Errorf("block returned an iterable (%T) for a chunk of series %.200q", iterable, sc.Labels.String())
			}
			// The bytes alias the block's mmapped chunk files, valid
			// until the block is closed, after the write.
			sc.Chunks = append(sc.Chunks, chunk.Chunk{MinTime: m.MinTime, MaxTime: m.MaxTime, Encoding: c.Encoding(), Data: c.Bytes()})
		}
		batch = append(batch, sc)
		if len(batch) == batchSeries {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := postings.Err(); err != nil {
		return fmt.Errorf("iterating postings: %w", err)
	}
	if err := flush(); err != nil {
		return err
	}
	if err := writeMark(j.dir, j.done); err != nil {
		// The rows are in the store; without the mark the block is flushed
		// again after a restart, which is harmless.
		f.logger.Warn("Writing the flushed mark failed", "tenant", j.tenant, "block", j.meta.ULID, "err", err)
	}
	f.metrics.flushedBlocks.WithLabelValues(string(j.tenant)).Inc()
	f.logger.Info("Flushed block", "tenant", j.tenant, "block", j.meta.ULID,
		"mint", time.UnixMilli(j.meta.MinTime).UTC(), "maxt", time.UnixMilli(j.meta.MaxTime).UTC(),
		"series", j.done, "chunks", j.chunks, "bytes", j.bytes, "dropped_series", j.dropped)
	return nil
}

// write sends one batch. A batch the store refuses as invalid is sent again
// series by series, skipping (and counting) the series it refuses: retrying
// them could never succeed and would hold the block on disk forever.
// Each write has -ingester.flush-op-timeout.
func (f *Flusher) write(ctx context.Context, j *job, batch []chunk.SeriesChunks) (dropped int, err error) {
	err = f.writeSeries(ctx, j, batch)
	if err == nil || !permanent(err) {
		return 0, err
	}
	for k := range batch {
		err := f.writeSeries(ctx, j, batch[k:k+1])
		switch {
		case err == nil:
		case permanent(err):
			dropped++
			f.metrics.droppedSeries.Inc()
			f.logger.Warn("Chunk store refused a series, dropping it", "tenant", j.tenant, "block", j.meta.ULID, "err", err)
		default:
			return dropped, err
		}
	}
	return dropped, nil
}

func (f *Flusher) writeSeries(ctx context.Context, j *job, batch []chunk.SeriesChunks) error {
	ctx, cancel := context.WithTimeoutCause(ctx, f.cfg.OpTimeout,
		fmt.Errorf("writing %d series to the chunk store took longer than -ingester.flush-op-timeout=%s", len(batch), f.cfg.OpTimeout))
	defer cancel()
	_, err := f.store.WriteSeries(ctx, string(j.tenant), batch)
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

func permanent(err error) bool {
	return errors.Is(err, chunk.ErrInvalidChunk) || errors.Is(err, chunk.ErrKeyTooLong)
}

func closeErr(what string, err error) error {
	if err != nil {
		return fmt.Errorf("closing %s: %w", what, err)
	}
	return nil
}

// writeMark records in dir that the block is in the store.
func writeMark(dir string, series int) error {
	data, err := json.Marshal(struct {
		FlushedAt time.Time `json:"flushed_at"`
		Series    int       `json:"series"`
	}{time.Now().UTC(), series})
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, markFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("writing flushed mark: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, markFile)); err != nil {
		return fmt.Errorf("renaming flushed mark: %w", err)
	}
	return nil
}

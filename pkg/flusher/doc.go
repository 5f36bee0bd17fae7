// Package flusher writes the ingester's compacted blocks to the chunk store
// and tells the ingester when a local block may go.
//
// A [Flusher] implements the ingester's Flusher hook. Each compacted block
// (one tenant, one -ingester.block-range window, out-of-order data already
// merged in its own block) is queued; -ingester.flush-concurrency workers
// open it with tsdb.OpenBlock, read every series with its encoded chunks,
// and write them to a [SeriesWriter] (the chunk store) 1,000 series per
// call. Failures are retried with exponential backoff (1s to 1m) for as
// long as the flusher runs; a retry resumes after the series already
// written. Series the store refuses as invalid are counted and skipped.
//
// The queue holds references to blocks that are on local disk, so it is
// bounded by the ingester's blocks: a block is never dropped from it, and
// the ingester keeps a block until [Flusher.Flushed] says it is in the
// store. A flushed block gets a mark file (hearth-flushed) in its
// directory, so a restart does not flush it again; the ingester reports
// every block it finds at startup, and unmarked ones are flushed.
//
// [Flusher.FlushAll] and [Flusher.Handler] (POST /ingester/flush) force
// every head into blocks ([Compactor], the ingester) and wait for the queue
// to drain; scale-down uses the same. [Flusher.DeleteTenant] drops a
// tenant's queued blocks and cancels its flushes in progress, for tenant
// deletion.
//
// Writes are idempotent: replicas of the same series write identical
// chunks, which the store keeps once (cells keyed by content hash with a
// fixed timestamp); chunks that differ because a replica missed samples are
// both kept and merged at query time.
package flusher

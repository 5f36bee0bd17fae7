// Package ingester stores the recent series of every tenant and serves them
// over gRPC ([ingesterpb.IngesterServer]).
//
// # Storage
//
// Each tenant gets its own Prometheus TSDB ([tsdb.DB]) in <dir>/<tenant>,
// opened on the tenant's first push and, at startup, for every tenant
// directory found, so that WALs replay before the [Ingester.Service] is
// Running; [Ingester.Status] and the hearth_ingester_wal_replay* metrics
// show the replay's progress (tenants, and the WAL segment of the tenant
// being replayed). A DB is a head (XOR chunks, postings, native histograms), a WAL,
// an out-of-order window and exemplar storage, both sized from the tenant's
// limits (re-applied when the overrides change), and the blocks the head is
// compacted into. Each DB has its own metrics registry; a collector exposes
// the useful figures as hearth_ingester_tsdb_* with a tenant label.
//
// An ingester may hold many small tenants, so what a DB costs before it
// holds data is kept small: the head has -ingester.tsdb-stripe-size
// stripes (not the TSDB's 16384), a small head chunks write buffer, and an
// exemplar buffer of size 0 until the tenant first sends exemplars
// (exemplars.go). BenchmarkTenantOverhead measures it.
//
// # Write path
//
// [Ingester.Push] may receive strings that alias the gRPC receive buffer.
// Labels are built in a reused [labels.ScratchBuilder]; the series is looked
// up with GetRef, and only a new series gets its labels copied into owned
// memory, because the head keeps the label set it is given. Exemplar labels
// and metadata strings are copied too. Failures of single series (out of
// order, too old, duplicate timestamp with another value, series limits,
// invalid histograms, exemplars) do not fail the call: they are returned
// grouped by reason in PushResponse.errors. Errors that may pass on retry
// (not running, an instance limit, a disk with less free space than
// -ingester.min-free-disk-space-bytes, a failed WAL write) fail the call
// with gRPC Unavailable.
//
// A push is acknowledged once its records are written (write(2), not
// fsync) to the tenant's WAL. After a failed WAL write the TSDB's WAL may
// hold a torn record, behind which its repair at the next open would cut
// everything: the ingester then refuses the tenant's pushes until it has
// reopened the tenant's TSDB, once the disk has room (see wal.go).
//
// Series limits (per tenant and per metric, local and global ÷ ingesters ×
// replication factor through [RingInfo]) are checked by the head's series
// creation hook, before a series exists. Metric metadata is kept in memory,
// under its own limits, for -ingester.metadata-retain-period.
//
// # Read path
//
// [Ingester.QueryStream] streams compressed chunks in batches, enforcing the
// per-query series, chunk and byte limits (ResourceExhausted).
// [Ingester.QueryLocal] answers the same for a querier in the same process
// without building messages: a [LocalQuerier] hands out the TSDB's own
// labels and chunks, holding the tenant's read until it is closed. Label names,
// values, series, metadata, exemplars and per-tenant stats are answered
// from the same DBs.
//
// # Blocks and flushing
//
// The ingester compacts heads itself every -ingester.head-compaction-interval
// ([Ingester.Compact]), one block per -ingester.block-range, never merging
// blocks. A [Flusher] is told of every new block and decides, with
// -ingester.retention-period, when a local block may go (checked when the
// TSDB reloads its blocks: every minute, and after each compaction);
// [Ingester.Blocks] lists a tenant's blocks. Package flusher implements the
// hook. [Ingester.ForceCompact] compacts whole heads, the current partial
// range included, for "flush everything" and scale-down.
// [Ingester.DeleteTenant] removes a tenant's TSDB, metadata and metrics.
//
// The ring lifecycler is a separate service: the ingester does not import
// the ring.
//
// # Types
//
// [Ingester] is the gRPC surface (push.go, read.go, flush.go), admission
// (admission.go) and the service loop (ingester.go). The tenants' TSDBs
// and their lifecycle belong to tenantDBs (tenants.go): the tenant map,
// opening (tenant_db.go) and the WAL replay at startup (replay.go), the
// commit that notices a failed WAL write and the reopen that recovers from
// it (wal.go), maintenance and head compaction (maintain.go), deletion and
// the close at stop. One tenant's storage is a tenantDB: its TSDB, private
// metrics registry, series limiter (limiter.go, with the set of owned
// label sets the head may create series from: owned.go), metadata (metadata.go),
// exemplar buffer sizing (exemplars.go) and WAL fsync (walsync.go).
//
// # Locks
//
// Taken only in this order (a lock is never held while taking one above
// it):
//
//  1. tenantDBs.openMu serialises opening, reopening, deleting and closing
//     DBs. It is never taken with a tenantDB.mu held: a push holds its
//     tenant's mu until its commit, and a reopen holds openMu while it
//     waits for the pushes in flight.
//  2. tenantDBs.mu (RW) guards the tenant map and the closing flag; it is
//     held for map operations only (and the -ingester.instance-limits.max-tenants
//     check), never while taking a tenantDB's lock.
//  3. tenantDB.mu (RW): every call that uses a DB holds it for reading
//     (acquire); close takes it for writing, after the calls in flight.
//  4. tenantDB.maintMu: one maintenance or forced compaction of the
//     tenant at a time, with mu held for reading.
//  5. tenantDB.limitsMu: changes of the out-of-order window and exemplar
//     buffer (ApplyConfig), from maintenance (under maintMu) and from a
//     push's first exemplars (under mu only).
//
// The TSDB's own locks come after these. Leaf locks, under which nothing
// else is taken and nothing calls into the TSDB: seriesLimiter.mu and
// ownedLabels.mu (the TSDB calls the limiter's hooks with its locks held), walWatch.mu (the
// TSDB registers its metrics while opening or under ApplyConfig),
// walSyncer.mu, metadataStore's, ewmaRate.mu and replayState.mu. The
// [Flusher]'s hooks are called under maintMu or from the TSDB's block
// reload and must not call back into the ingester.
//
// Lock-free state: the counts of pushes in flight (Ingester) and of
// in-memory series (tenantDBs), a tenant's out-of-order window, exemplar
// flag, WAL error and commits in flight (tenantDB), and the watched WAL
// failure counters (walWatch) are atomics. walRecovered is touched only
// by the service loop, which alone calls recoverWALs.
package ingester

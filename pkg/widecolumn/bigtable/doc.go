// Package bigtable is the [widecolumn.Backend] on Google Cloud Bigtable, for
// clusters.
//
// One table with one column family ("f", one version kept) holds every
// row; cells are written with a fixed timestamp (0), so writing the same
// column twice leaves one cell, and read with a latest-version filter.
// Writes go through ApplyBulk in calls of at most
// [Options.MaxMutationsPerCall] mutations (Bigtable's limit is 100,000);
// reads are split into batches of [Options.ReadBatchSize] keys or ranges read
// in parallel; transient errors (Unavailable, DeadlineExceeded, Aborted,
// ResourceExhausted) are retried with exponential backoff, resuming reads
// after the last row received. Prefix drops use the admin client's
// DropRowRange.
//
// The client honours BIGTABLE_EMULATOR_HOST; tests run against the
// in-process emulator of cloud.google.com/go/bigtable/bttest.
package bigtable

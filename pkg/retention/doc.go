// Package retention enforces per-tenant retention in the chunk store and
// deletes tenants, both through the prefix rules of package widecolumn.
//
// An [Enforcer] runs every -store.retention-interval: for each tenant whose
// retention period (the -store.retention-period limit, 0 = forever) is set,
// it drops the tenant's index buckets that ended before now − retention,
// whole (widecolumn.DropBucketsBefore on namespace widecolumn.Chunks:
// Bigtable DropRowRange, Pebble DeleteRange). The tenants are those with a
// per-tenant override and, when the default is not 0, every tenant present
// in the store (chunk.Store.Tenants). Drops are idempotent: running the
// enforcer in several processes is harmless, one is enough.
//
// The same run makes series deletions permanent (delete_series, see
// package querier): when the store implements [TombstoneStore], every
// tenant's tombstones older than an hour are applied
// (chunk.Store.ApplyTombstones rewrites the chunks they cover, then removes
// them); younger ones stay, hiding the deleted samples at query time,
// while flushes that started before the ingesters deleted finish.
//
// A [Deleter] serves the operator endpoint that deletes a tenant: it first
// removes the tenant from the process's local components (the ingester's
// TSDB, metadata and metrics; the flusher's queue and flushes in progress),
// then drops every row of the tenant from every namespace of the
// wide-column table (widecolumn.DeleteTenant: API keys, rule groups,
// Alertmanager state, chunks and index, tombstones, cache generations), and
// last purges the chunk store client's caches. In a cluster, call it on
// every ingester (the drops are idempotent): the store is clean once the
// last ingester's call has returned, provided the tenant no longer sends
// samples (a push after the deletion starts the tenant afresh). Other
// processes' authenticators stop accepting the tenant's keys within one
// -auth.cache-ttl.
// Queriers need no call: every store read starts with an uncached read of
// the tenant's first bucket, so a dropped tenant returns nothing even from
// a client that had its rows cached; those cache entries age out.
package retention

// Package retention enforces per-tenant retention in the chunk store and
// deletes tenants.
//
// An [Enforcer] runs every -store.retention-interval: for each tenant whose
// retention period (the -store.retention-period limit, 0 = forever) is set,
// it drops the tenant's index buckets that ended before now − retention,
// whole (Bigtable DropRowRange, Pebble DeleteRange). The tenants are those
// with a per-tenant override and, when the default is not 0, every tenant
// present in the store (chunk.Store.Tenants). Drops are idempotent: running
// the enforcer in several processes is harmless, one is enough.
//
// A [Deleter] serves the operator endpoint that deletes a tenant: it first
// removes the tenant from the process's local components (the ingester's
// TSDB, metadata and metrics; the flusher's queue and flushes in progress),
// then drops every row of the tenant in the chunk store. In a cluster, call
// it on every ingester (the store drop is idempotent): the store is clean
// once the last ingester's call has returned, provided the tenant no longer
// sends samples (a push after the deletion starts the tenant afresh).
// Queriers need no call: every store read starts with an uncached read of
// the tenant's first bucket, so a dropped tenant returns nothing even from
// a client that had its rows cached; those cache entries age out.
package retention

// Package usage keeps the per-tenant usage ledger: the counters a bill
// depends on (samples, histograms, exemplars and metadata received,
// discarded by reason, bytes received, queries run and samples read, rule
// evaluations, chunk bytes flushed), persisted in the wide-column table so
// they are exact across graceful restarts.
//
// A [Ledger] does not count by itself: the components count in their own
// Prometheus counters, as they always have, and the ledger reads them from
// the process's registry ([Deps].Gatherer) for the metric names of its
// [Family] list. Every -usage.persist-interval it folds the increase of each
// series since the previous read into its per-tenant totals (a series that
// went down or disappeared was reset: its new value is all increase, as
// Prometheus's increase() has it) and writes the totals of the tenants that
// changed, as absolute values, to its own rows: namespace
// widecolumn.Usage, key tenant │ instance ID, one column per counter and
// kept label set (see [Column]). Each instance is the only writer of its
// rows, so a write never races another process.
//
// On start ([Ledger.Service]) the ledger loads its own rows and adds them to
// the components' counters it saw registered through
// [Ledger.WrapRegisterer], so a process's hearth_*_total counters continue
// across a graceful restart instead of starting at zero. The last write is
// made when the service stops, which pkg/app orders after the servers have
// answered their last request. A process started under another instance ID
// (a Deployment's new pod) starts a new row and leaves the old one, which
// readers sum with the others.
//
// [Ledger.Usage] and [Ledger.AllUsage] read the ledger: every instance's
// row of a tenant summed, with this process's own row replaced by its live
// totals. The HTTP handlers ([Ledger.TenantHandler],
// [Ledger.OperatorHandler]) serve them as JSON.
//
// What is exact: everything counted up to a graceful stop. A crash (kill
// -9, OOM) loses what the process counted since its last write, at most one
// persist interval. Tenant deletion drops the rows with the rest of the
// tenant's namespaces; a process that deletes the tenant forgets its totals
// ([Ledger.DeleteTenant]), and one that finds its row gone at its next write
// starts the tenant again from what it counted since its last write.
package usage

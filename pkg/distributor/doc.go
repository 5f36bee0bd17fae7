// Package distributor is the write path's front door: it receives
// remote-write pushes, validates them per tenant, and replicates every
// series to a quorum of ingesters.
//
// [Distributor.PushHandler] serves POST /api/v1/push for remote-write 1.0
// (package rw1) and 2.0 (package rw2); both decode into a pooled,
// reference-counted remotewrite.Request whose strings alias the body.
// [Distributor.Push] then:
//
//   - validates each series (metric name, UTF-8 label names as Prometheus 3
//     accepts them, sorted and unique names, lengths and counts from
//     pkg/limits, timestamps within the creation grace period and,
//     optionally, not too old, native histograms with Prometheus's own
//     Validate, exemplars, metadata). A refused series does not refuse the
//     others: they are written and the answer is 400 naming the first
//     refusal ([ValidationError]). Every refusal counts in
//     hearth_discarded_samples_total{tenant,reason};
//   - runs the [PrePushHook]s: HA deduplication (package hatracker; a
//     dropped push is 202) and the per-tenant rate limit (package
//     ratelimit; 429 with Retry-After). A hook error with a Reason method
//     ([DiscardReason]) counts the push's data in
//     hearth_discarded_samples_total;
//   - hashes (tenant, all labels) to a 32-bit token ([ShardKey]), asks the
//     [Ring] for the replicas, groups series per ingester and pushes to all
//     of them in parallel. A series is written when len(replicas) -
//     MaxErrors replicas acknowledged it; the request returns when every
//     series is written (204), one cannot be (503, retryable), or a quorum
//     of a series' replicas refused it for good ([IngesterError], 400).
//     Pushes still running then continue detached from the request's
//     cancellation, bounded by -distributor.remote-timeout, each holding a
//     reference on the request so its body is not reused before they have
//     been sent.
//
// [InstanceLimits] protect the process: over -distributor.instance-limits.*
// in-flight push requests or bytes, a push gets 503 ([InstanceLimitError]).
//
// Ingesters report refusals per push, grouped by reason, not per series:
// a replica's soft error counts against every series of its batch.
// [Distributor.AllTenantStatsHandler] serves /distributor/all_user_stats.
package distributor

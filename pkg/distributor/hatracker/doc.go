// Package hatracker deduplicates the pushes of HA Prometheus pairs in the
// distributor.
//
// Two (or more) Prometheus servers scraping the same targets carry the same
// external labels except one: `cluster` names the pair, `__replica__` the
// server (the label names are the per-tenant limits ha_cluster_label and
// ha_replica_label). For tenants with accept_ha_samples, [Tracker] elects one
// replica per tenant and cluster and writes only its samples, without the
// replica label (the cluster label stays), so the stored series are the
// same whichever replica is elected. When the elected replica has sent
// nothing for -distributor.ha-tracker.failover-timeout (30s), the next push
// from another replica elects it: the data has no gap longer than the
// timeout. A push's cluster and replica are those of the first series that
// carries both labels (a push comes from one server); pushes without them are
// written unchanged. At most ha_max_clusters clusters are tracked per tenant
// (400 beyond, reason too_many_ha_clusters); clusters idle for 30 minutes
// are forgotten.
//
// # Elections without compare-and-swap
//
// Elections live in the memberlist KV under the key "ha-tracker" as
// [Elections], a map from "<tenant>/<cluster>" to an [Election] {replica,
// elected_at, updated_at, deleted}. The elected replica's updated_at is
// refreshed at most every -distributor.ha-tracker.update-timeout (15s, plus
// up to 5s of jitter per distributor). Gossip has no global compare-and-swap:
// two distributors may elect different replicas at once. The merge is
// deterministic instead: the newest elected_at wins, then the greater replica
// name; for the same election the latest updated_at (or its deletion) wins.
// It is the maximum under a total order, hence idempotent, commutative and
// associative, so every distributor converges on the same replica within a
// gossip round. Until then both replicas' samples may be written for a
// moment: the two servers scrape at slightly different times, so a series
// may get a few interleaved samples from both, and some may be refused as
// out of order.
//
// The election itself ([decide]) is a pure function of the current election,
// the replica and the time.
//
// # What a deduplicated push gets
//
// A push from a replica that is not elected is dropped whole (series,
// exemplars and metadata) and answered 202 Accepted with a short text body,
// in remote-write 1.0 and 2.0 alike, with honest written counts:
//
//	X-Prometheus-Remote-Write-Samples-Written: 0
//	X-Prometheus-Remote-Write-Histograms-Written: 0
//	X-Prometheus-Remote-Write-Exemplars-Written: 0
//
// The dropped samples count in hearth_distributor_deduped_samples_total
// {tenant,cluster}, not in hearth_discarded_samples_total: nothing is lost,
// the elected replica sent the same data.
//
// How senders react: 202 is 2xx, so no sender retries it. Prometheus 2.x
// and older senders, and any 1.0 sender that ignores the headers, count the
// push as sent and log nothing (this is what Cortex and Mimir users know).
// Prometheus 3.x reads the written-count headers for both protocols
// (storage/remote in v0.30x+): it treats the push as failed without retrying
// and counts the samples in prometheus_remote_storage_samples_failed_total
// (and the histograms/exemplars variants). With remote-write 2.0 it logs at
// error level "non-recoverable error" with "got 2xx, but PRW 2.0 response
// header statistics indicate 0 samples, 0 histograms and 0 exemplars were
// accepted"; with 1.0 it logs "we got 2xx status code from the Receiver yet
// statistics indicate some data was not written; investigation needed".
// So the standby server of an HA pair logs an error per batch and its
// failed-samples rate is its whole send rate: alerts on remote-write
// failures (e.g. the mixin's PrometheusRemoteStorageFailures) should
// exclude standby replicas, or be expected to fire on them. The elected
// server is unaffected.
package hatracker

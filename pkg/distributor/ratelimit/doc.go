// Package ratelimit limits each tenant's ingestion rate in the distributor.
//
// [Limiter] keeps one token bucket (golang.org/x/time/rate) per tenant,
// sized from the tenant's limits (ingestion_rate_limit samples per second,
// ingestion_burst_size samples) read again on every push, so a runtime
// override applies to the next push. A push costs its samples, histogram
// samples and exemplars, counted after validation and HA deduplication.
//
// Two strategies (-distributor.ingestion-rate-limit-strategy):
//   - local: each distributor enforces the whole rate; the cluster accepts
//     up to rate × distributors.
//   - global: each distributor enforces rate ÷ the healthy distributors of
//     the distributor ring, so the cluster accepts about the rate when
//     senders spread evenly. The burst stays per distributor: it must hold
//     the largest push.
//
// A push over the limit fails with [RateLimitedError], which matches
// remotewrite.ErrRateLimited: 429 with a Retry-After header saying when the
// bucket will hold enough tokens. Nothing of the push is written, and its
// samples count in hearth_discarded_samples_total{reason="rate_limited"}
// (the distributor counts them through the error's Reason). A push larger
// than the burst can never pass; its error says so.
package ratelimit

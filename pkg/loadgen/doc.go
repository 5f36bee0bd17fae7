// Package loadgen generates remote-write and query load against any
// Prometheus-compatible endpoint: Hearth, Prometheus itself, or anything
// else that speaks remote-write 1.0 or 2.0 and the Prometheus HTTP API.
//
// Series are shaped like the Mimir k6 scripts (see the shared
// reference/performance.md §5): every series carries `series_id` and the
// power-of-ten labels `cardinality_1e1` … `cardinality_1e6` (= series_id /
// 10^k), so `{cardinality_1e2="0"}` on one metric name selects exactly 100
// series. Counters increase, gauges random-walk, native histograms
// (exponential schema 3) and classic histograms (`_bucket{le=…}`, `_sum`,
// `_count`) receive new observations every interval. A configurable fraction
// of the series is replaced (churned) every interval by bumping its
// `cycle_id` label.
//
// The series of every tenant are cut into fixed batches ([batch]); each
// pusher owns a set of batches and has its own encoder goroutine that
// encodes them, round after round, ahead of time into snappy-compressed
// request bodies ([rw1Encoder], [rw2Encoder]). Pushers only send bytes, so
// the generator is not the bottleneck; when it is (a pusher waits on its
// encoder), the live line and the [Summary] say so. Because a batch always
// goes through the same pusher, which retries before moving on, the samples
// of one series reach the receiver in timestamp order.
//
// [Run] drives a run from a [Config]: it paces rounds on -interval (or
// pushes as fast as possible with -max-rate; [roundClock] gives every
// round its timestamp), runs the query mix of [queryMix] at -query-rate,
// prints a live line every second and returns a [Summary].
package loadgen

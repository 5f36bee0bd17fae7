// Package checker proves that what a Prometheus-compatible backend
// acknowledged can be read back, unchanged: the write-then-read checker
// behind cmd/hearth-check and the fault-injection tests.
//
// A [Checker] pushes one sample of each of -series series every -interval
// with remote-write 1.0 (a snappy-compressed prompb.WriteRequest). The
// series are `hearth_check_sample{run_id="<run>", series="<i>"}`: the run
// ID keeps repeated runs apart, and every value is a deterministic
// function of (series, timestamp) ([Value]), so a value read back can be
// verified without remembering it. A push counts as acknowledged only when
// it is answered 2xx; 5xx, 429 and transport errors are retried with
// backoff (the same request, so the values are identical) until it is
// acknowledged or the run ends; any other 4xx is a failure, counted and
// logged with the body, and never retried.
//
// While pushing, the checker reads the recent samples back through the
// Prometheus HTTP query API every -check-interval (a range selector at an
// instant, which returns raw samples), and expects every sample
// acknowledged at least -settle earlier. [Checker.Verify] reads the whole
// run back at the end and sorts every sample into one of: acknowledged and
// read back, lost (acknowledged, not read back), mismatched (read back
// with another value), read back without being acknowledged (a push that
// failed may have been partly written: reported, not an error), or
// phantom (read back but never sent). [Summary.OK] is false when anything
// acknowledged was lost or any value or sample was wrong.
//
// [Run] is the whole cycle for the command: [New], [Checker.Start], wait
// for -duration, [Checker.Stop], [Checker.Verify]. Tests drive the steps
// themselves and watch [Checker.Progress] to synchronise with faults.
package checker

// Package integration holds Hearth's multi-process tests: they build the
// real binaries, start them on loopback, and talk to them only as users do
// (remote write, the Prometheus HTTP API, /metrics, signals).
//
// The tests are behind the "integration" build tag: run them with
// `make test-e2e`. The fault-injection tests (TestFault*, files
// fault_*_test.go) also need the "fault" tag and run with `make test-fault`:
// each drives a pkg/checker run while it kills, restarts or starves the
// processes, and asserts that every acknowledged sample is read back.
package integration

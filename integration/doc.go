// Package integration holds Hearth's multi-process tests: they build the
// real binaries, start them on loopback, and talk to them only as users do
// (remote write, the Prometheus HTTP API, /metrics, signals).
//
// The tests are behind the "integration" build tag: run them with
// `make test-e2e`.
package integration

// Package mixin holds Hearth's monitoring mixin: Grafana dashboards
// (dashboards/*.json), Prometheus alerting and recording rules
// (rules/*.yaml) and, in docs/runbooks.md, a runbook section per alert.
// It has no Go code of its own; its tests check the rules parse as
// Prometheus parses them, every metric they and the dashboards use exists in
// a running Hearth, and every alert's runbook exists.
package mixin

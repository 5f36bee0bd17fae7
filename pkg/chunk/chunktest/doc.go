// Package chunktest is the conformance suite every [chunk.Backend] passes:
// [Run] exercises the backend directly and through a [chunk.Store]
// (round trips, replica dedupe, matchers, time ranges, tenants, retention).
// Backend packages call it from their tests with a constructor of fresh,
// empty backends.
package chunktest

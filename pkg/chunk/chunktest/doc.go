// Package chunktest is the chunk store's suite: [Run] exercises a
// [chunk.Store] on a backend (round trips, replica dedupe, matchers, time
// ranges, tenants, retention, key limits, bytes per sample). Package chunk
// runs it on every backend of package widecolumn; the backend contract
// itself is package widecolumntest's. The helpers build chunks and look at
// what is stored, for other packages' tests.
package chunktest

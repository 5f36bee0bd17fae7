// Package chunk is Hearth's long-term store: flushed series and their
// chunks, with an index that answers label matchers without a metric name,
// per-tenant retention and tenant deletion.
//
// The schema is written once against [Backend], the narrow wide-column
// interface of package widecolumn (rows with ordered keys, columns, cells;
// batched mutations; reads by key list or key ranges with server-side
// filters; prefix drops), implemented by packages widecolumn/pebble and
// widecolumn/bigtable. Every row the store writes is in namespace
// widecolumn.Chunks, the table's share keyed by tenant and bucket; the other
// namespaces (API keys, rules, ...) are never read or dropped here. Package
// chunk/chunktest holds the store's suite, run on both backends.
//
// [Store] maps one flush of one tenant ([Store.WriteSeries]) onto series,
// postings, label-name and chunk rows, and reads them back
// ([Store.Select], [Store.LabelNames], [Store.LabelValues]) through
// in-process LRU caches bounded in bytes. Every key starts with the tenant
// and the index bucket (24h by default), so [Store.DeleteBucketsBefore] and
// [Store.DeleteTenant] are prefix drops (the prefix rules of package
// widecolumn). The layout, with the table of every namespace, is
// documented byte by byte in docs/schema.md.
//
// The package imports nothing else from Hearth but package widecolumn: the
// tenant is a string the caller has validated.
package chunk

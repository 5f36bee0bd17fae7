// Package chunk is Hearth's long-term store: flushed series and their
// chunks, with an index that answers label matchers without a metric name,
// per-tenant retention and tenant deletion.
//
// The schema is written once against [Backend], a narrow wide-column
// interface (rows with ordered keys, columns, cells; batched mutations;
// reads by key list or key ranges with server-side filters; prefix drops).
// Two backends implement it: package chunk/bigtable (Google Cloud Bigtable,
// for clusters) and package chunk/pebble (embedded, for one node). Package
// chunk/chunktest holds the conformance suite both pass.
//
// [Store] maps one flush of one tenant ([Store.WriteSeries]) onto series,
// postings, label-name and chunk rows, and reads them back
// ([Store.Select], [Store.LabelNames], [Store.LabelValues]) through
// in-process LRU caches bounded in bytes. Every key starts with the tenant
// and the index bucket (24h by default), so [Store.DeleteBucketsBefore] and
// [Store.DeleteTenant] are prefix drops. The layout is documented byte by
// byte in docs/schema.md.
//
// The package imports nothing else from Hearth: the tenant is a string the
// caller has validated.
package chunk

// Package widecolumn is the one wide-column table every stored row of Hearth
// lives in, and the rules that share it out.
//
// [Backend] is the narrow interface the stores are written against: rows
// with ordered byte-string keys and cells addressed by a column; batched
// mutations; reads by key list or key ranges with server-side filters;
// prefix drops. Package widecolumn/pebble implements it on an embedded
// Pebble database (one node) and package widecolumn/bigtable on Google Cloud
// Bigtable (clusters); package widecolumn/widecolumntest is the conformance
// suite both pass, and package widecolumn/backendtest opens them for other
// packages' tests.
//
// The table is shared out by key prefix into [Namespace]s, all declared in
// this package ([Namespaces]): the chunk store's index and chunks
// ([Chunks]), API keys ([APIKeys], [APIKeyTenants]), rule groups,
// Alertmanager state, series-deletion tombstones, results-cache
// generations. No two overlap (a test checks it), and each says where the
// tenant is in its keys ([Layout]), so [DeleteTenant] drops a tenant from
// every namespace and [DropBucketsBefore] applies retention to the bucketed
// ones: a new kind of row is deleted with its tenant as soon as it is in
// the table. The bytes are documented in pkg/chunk/docs/schema.md.
//
// The package imports nothing else from Hearth: a tenant is a non-empty
// string the caller has validated.
package widecolumn

// Package promqlshape measures a PromQL expression before it is parsed: its
// token count and an upper bound of its syntax tree's depth, from one pass
// of the PromQL lexer.
//
// Prometheus's parser takes no context and its time grows with tokens ×
// depth, so the querier (query expressions) and the ruler's config API
// (rule expressions) bound both with the tenant's expression limits before
// they parse; [Scan] is the one measure both use.
package promqlshape

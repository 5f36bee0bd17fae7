// Package tenant owns the tenant ID: its validation, and how it travels in a
// [context.Context], in HTTP requests and in gRPC metadata.
//
// A tenant ID is validated once, at the edge, by [Validate] (or [Parse]),
// and is then carried as an [ID]. Every storage key, cache key and per-tenant
// metric label includes it. The package imports nothing else from Hearth.
package tenant

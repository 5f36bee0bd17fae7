// Package inmemory is a [kv.Client] that keeps values in one process, for
// unit tests of packages that use a KV (rings, lifecyclers, the HA tracker).
// Do not use it in production: nothing is shared between processes.
//
// One [KV] plays the role of the whole gossip cluster: every client made
// from it sees the same values, as if the processes had converged. Updates
// are encoded and decoded with the client's codec, so codec bugs show up in
// tests as they would on the wire.
package inmemory

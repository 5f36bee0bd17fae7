// Package kv is a small key-value store for CRDT values, used to gossip
// ring descriptors (and later the HA tracker's elections) between Hearth
// processes without Consul or etcd.
//
// A value is a [Mergeable]: merging two values is idempotent, commutative and
// associative, so replicas that saw the same updates in any order hold the
// same value. A [Codec] turns a value into bytes for the wire. A [Client]
// reads a key ([Client.Get]), watches it ([Client.WatchKey]) and changes it
// with a compare-and-swap style [Client.Update] whose result is merged into
// the stored value.
//
// Two implementations exist: package memberlist gossips values between
// processes with hashicorp/memberlist, and package inmemory keeps them in
// one process for unit tests of other packages.
package kv

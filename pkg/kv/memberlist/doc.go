// Package memberlist is a [kv.Client] whose values are gossiped between
// processes with github.com/hashicorp/memberlist.
//
// One [KV] runs per process (it is a service: [KV.Service]) and carries
// every key: the ingester, distributor and ruler rings, the HA tracker.
// Components get a client for their value type with [KV.Client].
//
// Values spread two ways. Every change made locally (or received and new
// to this process) is queued as a broadcast of only the changed parts and
// gossiped to a few random members, which merge it and pass on what was new
// to them. Every -memberlist.push-pull-interval, and on join, two members
// exchange their full state (memberlist's push/pull over TCP), which repairs
// anything a lost broadcast missed. Because values are CRDTs ([kv.Mergeable])
// the order of delivery does not matter.
//
// Peers are found with -memberlist.join, a list of host:port whose names are
// resolved again every -memberlist.rejoin-interval, so a headless Kubernetes
// service works. Tombstones (for a ring, instances that left) are removed
// after -memberlist.left-instances-timeout. With -memberlist.secret-key, or
// a key given to [NewWithKey] (the wiring derives one from the cluster
// secret), every message is encrypted and authenticated with memberlist's
// keyring (AES-GCM) and messages without the key are dropped: a process
// without it can neither join nor have its state merged.
//
// Wire format of a broadcast and of the push/pull state: a version byte (1),
// then records, each three uvarint-length-prefixed strings: key, codec ID,
// encoded value. A broadcast holds one record.
package memberlist

// Package ring shards keys over the instances of a component with a token
// ring, and keeps the ring in a gossiped KV (package kv).
//
// Each instance owns random 32-bit tokens (-<prefix>num-tokens, 128 by
// default). The replica set of a key is the owners of the next
// replication-factor distinct instances clockwise from the key, in distinct
// zones when zone awareness is on ([Ring.Get]); requests that must reach
// every instance use [Ring.GetAll]. A [ReplicationSet] runs a call on its
// instances and stops once a quorum answered ([ReplicationSet.Do]).
//
// The whole ring is one descriptor, [Desc], stored under one KV key and
// merged as a CRDT: per instance, the newer heartbeat wins, and a LEFT
// tombstone wins ties and expires after -memberlist.left-instances-timeout.
// [Codec] encodes it; one codec serves every ring.
//
// Instances move through PENDING → JOINING → ACTIVE → LEAVING (→ LEFT, the
// tombstone). An instance whose heartbeat is older than
// -<prefix>heartbeat-timeout is unhealthy: it stays a replica of its keys
// and counts as a failed one, so a flapping instance does not move keys.
//
// The same code serves every ring (ingesters, distributors, rulers): flags
// take a prefix ([Config.RegisterFlagsWithPrefix]) and metrics a "name"
// label. A [Ring] reads a ring; a [Lifecycler] registers this process in
// it; [Ring.ServeHTTP] is the /ring status page.
//
// Wiring, for one process with an ingester ring:
//
//	mkv, _ := memberlist.New(mlCfg, logger, reg)        // one per process
//	client := mkv.Client(ring.Codec())                  // before mkv starts
//	r, _ := ring.New(ringCfg, "ingester", client, logger, reg)
//	lc, _ := ring.NewLifecycler(ringCfg, "ingester", client, logger, reg)
//	services.NewManager(logger, mkv.Service(), r.Service(), lc.Service())
package ring

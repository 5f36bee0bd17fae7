// Package clientpool keeps one gRPC client per ingester address, shared by
// the distributor and the querier.
//
// [Pool.Get] dials lazily with the gogo-aware codec, the tenant client
// interceptors, keepalive and the message-size limits given in [Options].
// The pool's service ([Pool.Service]) health-checks every client each
// -<prefix>.health-check-period with the standard gRPC health service (the
// ingester registers it) and closes clients that fail, and clients whose
// address is no longer listed by [Options.Addresses] (an ingester that left
// the ring). Stopping the service closes every client.
//
// A process that runs an ingester next to its distributor names it in
// [Options.Local]: pushes to that address are then direct calls
// ([LocalPusher]) instead of a marshal, a loopback HTTP/2 round trip and a
// decode; the other calls still go over gRPC.
package clientpool

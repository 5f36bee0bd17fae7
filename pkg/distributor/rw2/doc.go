// Package rw2 receives Prometheus remote-write 2.0: a snappy-compressed
// protobuf io.prometheus.write.v2.Request, content type
// application/x-protobuf;proto=io.prometheus.write.v2.Request.
//
// [Decode] is a hand-written decoder built on proto/wire: it reads the symbol table, resolves
// every labels_refs, exemplar and metadata reference against it (a
// reference out of range is a 400 naming the series and the reference), and
// produces the same [ingesterpb.PushRequest] as remote-write 1.0, with
// strings aliasing the body buffer. [Handler] answers 204 with the
// X-Prometheus-Remote-Write-{Samples,Histograms,Exemplars}-Written headers.
//
// Not carried over: start timestamps (Sample and Histogram field
// start_timestamp), which Hearth's ingesters do not store yet.
package rw2

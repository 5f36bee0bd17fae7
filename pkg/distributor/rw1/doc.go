// Package rw1 receives Prometheus remote-write 1.0: a snappy-compressed
// (block format) protobuf prometheus.WriteRequest, content type
// application/x-protobuf (optionally with proto=prometheus.WriteRequest).
//
// [Handler] reads the body into a pooled [remotewrite.Request], decodes it in
// place with [DecodeRequest] ([ingesterpb.PushRequest.UnmarshalZeroCopyInfo],
// whose wire format is WriteRequest's) and hands it to a
// [remotewrite.Pusher]; the decoded strings alias the pooled body buffer,
// which the request's reference count keeps alive until every ingester push
// has been sent. The decoder also tells whether every series label is ASCII
// (Request.ASCIILabels), which spares validation its UTF-8 checks.
package rw1

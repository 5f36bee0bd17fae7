// Package wire is the toolkit of Hearth's hand-written protobuf decoders
// (remote-write 1.0 and 2.0, the ingester's messages, OTLP next). It is a
// leaf: it imports nothing of Hearth's.
//
// A decoder is a loop over a [Reader] with one case per field it knows:
//
//	r := wire.NewReader(data, "LabelPair")
//	for r.Next() {
//		switch r.Field() {
//		case 1:
//			m.Name = r.String("LabelPair.name")
//		case 2:
//			m.Value = r.String("LabelPair.value")
//		default:
//			r.Skip()
//		}
//	}
//	return r.Err()
//
// Each value accessor checks the wire type and the bounds. The first
// malformed byte stops the loop and leaves a [*Error] in [Reader.Err] naming
// the field (or the message, for a bad key or unknown field), the byte
// offset in the whole input and one of the sentinel errors; nothing panics
// on any input. Unknown fields, groups included, are skipped with the rules
// of the gogo-generated code, so a hand-written decoder accepts and rejects
// what the generated one does.
//
// # Aliasing and lifetime
//
// [Reader.Bytes], [Reader.String], [Reader.Message] and [Alias] return
// memory shared with the input, never a copy. What a decoder builds from
// them is valid only while the input buffer is neither modified nor reused
// (returned to a pool, overwritten by the next request). A consumer that
// keeps a string or byte slice beyond that must copy it (strings.Clone,
// bytes.Clone). Byte slices are returned with their capacity cut at their
// end, so an append to one never writes into the input.
//
// [Grow] and [NilIfEmpty] let a decoder reuse a pooled message's slices:
// Grow hands back the element left in spare capacity (with its own inner
// slices) instead of allocating, and NilIfEmpty makes a field the input did
// not carry nil again, so a reused message reads exactly like a fresh one.
//
// # Where conversions live
//
// Wire to wire-type decoding is in two places only, both built on this
// package: the remote-write 1.0 and ingester decoders in
// proto/ingesterpb/zerocopy*.go, and the remote-write 2.0 decoder (symbol
// references resolved into an ingesterpb.PushRequest, so everything after
// it sees one request type) in pkg/distributor/rw2/decode.go. The mappings
// between ingesterpb's enums and matchers and Prometheus' types are in
// proto/ingesterpb/convert.go; ingesterpb samples and histograms become
// Prometheus' types where the ingester appends them (pkg/ingester/push.go).
package wire

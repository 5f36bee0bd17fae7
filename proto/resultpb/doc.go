// Package resultpb is the binary form of a query result that a querier
// sends a query frontend instead of Prometheus's JSON: the querier's
// Prometheus API encodes it with [Append] (a codec installed with
// v1.API.InstallCodec, chosen when the request's Accept names
// [ContentType]), and the frontend decodes it with [Decode] straight into
// the prometheus/common model types its middlewares work on; its results
// cache stores extents in the same form ([AppendMatrix]). Errors stay
// Prometheus's JSON.
//
// The format is protobuf, written and read by hand (the reading with
// proto/wire), so that values go once from the engine's types to the bytes
// and once from the bytes to the frontend's, with no generated types in
// between:
//
//	message Result {
//	  string result_type = 1;          // matrix, vector, scalar or string
//	  repeated Series series = 2;      // matrix: one per series; vector: one per sample
//	  sint64 t = 3;                    // scalar and string: the timestamp (ms)
//	  double v = 4;                    // scalar: the value
//	  string s = 5;                    // string: the value
//	  repeated string warnings = 6;
//	  repeated string infos = 7;
//	}
//	message Series {
//	  repeated string labels = 1;      // name, value, name, value… sorted by name
//	  repeated sint64 t = 2 [packed];  // float samples' timestamps (ms), each but the first as the difference to the previous
//	  repeated double v = 3 [packed];  // float samples' values, as many as t
//	  repeated Histogram histograms = 4;
//	}
//	message Histogram {
//	  sint64 t = 1;                    // ms
//	  double count = 2;
//	  double sum = 3;
//	  repeated Bucket buckets = 4;     // the buckets of count above 0, as Prometheus's JSON lists them
//	}
//	message Bucket {
//	  int32 boundaries = 1;            // 0: (lower, upper], 1: [lower, upper), 2: (lower, upper), 3: [lower, upper]
//	  double lower = 2;
//	  double upper = 3;
//	  double count = 4;
//	}
//
// A histogram carries what Prometheus's JSON carries (count, sum, the
// non-empty buckets with their boundaries), so a frontend decodes from it
// exactly the values it would have decoded from the JSON. Doubles go as
// their IEEE bits: NaN, ±Inf and -0 survive.
package resultpb

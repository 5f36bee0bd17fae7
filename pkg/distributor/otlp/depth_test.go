package otlp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/grpc/codes"
)

// nestedMetrics is an export whose one gauge point has an attribute
// value of arrays (or maps) nested depth deep.
func nestedMetrics(depth int, maps bool) pmetric.Metrics {
	md := metrics(gauge("g", 1))
	v := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Gauge().DataPoints().At(0).Attributes().PutEmpty("nested")
	for range depth {
		if maps {
			v = v.SetEmptyMap().PutEmpty("k")
		} else {
			v = v.SetEmptySlice().AppendEmpty()
		}
	}
	v.SetStr("leaf")
	return md
}

// Values nested deeper than pdata's recursive decoder can take used to
// crash the process with a fatal stack overflow (a ~30 MB body nested 3
// million deep, under the default 100 MiB limit); the walk before decoding
// refuses them with 400, and stops at MaxValueDepth.
func TestNestingDepth(t *testing.T) {
	tests := map[string]struct {
		depth    int
		maps     bool
		enc      Encoding
		wantCode int
	}{
		"arrays at the limit":              {depth: MaxValueDepth, wantCode: http.StatusOK},
		"maps at the limit":                {depth: MaxValueDepth, maps: true, wantCode: http.StatusOK},
		"arrays one past the limit":        {depth: MaxValueDepth + 1, wantCode: http.StatusBadRequest},
		"maps far past the limit":          {depth: 5000, maps: true, wantCode: http.StatusBadRequest},
		"JSON arrays at the limit":         {depth: MaxValueDepth, enc: JSON, wantCode: http.StatusOK},
		"JSON maps far past the limit":     {depth: 5000, maps: true, enc: JSON, wantCode: http.StatusBadRequest},
		"JSON arrays just past what is ok": {depth: MaxValueDepth + 8, enc: JSON, wantCode: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ct := ContentTypeProtobuf
			if tc.enc == JSON {
				ct = ContentTypeJSON
			}
			h := newTestHandler(t, &fakePusher{}, nil)
			got := decodeAnswer(t, serve(h, sent{body: encode(t, nestedMetrics(tc.depth, tc.maps), tc.enc), contentType: ct}), tc.enc)
			require.Equal(t, tc.wantCode, got.code, got.message)
			if tc.wantCode == http.StatusBadRequest {
				require.Equal(t, codes.InvalidArgument, got.grpc)
				require.Contains(t, got.message, "nested too deep")
			}
		})
	}
}

// A hand-built protobuf body nested 3 million deep (~30 MB), as an
// attacker would send it: refused after walking it, without recursion.
func TestNestingDepthHugeBody(t *testing.T) {
	body := nestedAnyValueProto(3_000_000)
	require.Greater(t, len(body), 20<<20)
	_, err := Decode(body, Protobuf)
	require.ErrorContains(t, err, "nested too deep")
	_, err = Decode([]byte(strings.Repeat("[", 1_000_000)), JSON)
	require.ErrorContains(t, err, "nested too deep")
}

// nestedAnyValueProto encodes an export whose resource has one attribute
// whose value is an array of an array ... depth deep, in one pass.
func nestedAnyValueProto(depth int) []byte {
	leaf := protowireBytes(1, []byte("x")) // AnyValue{string_value: "x"}
	sizes := make([]int, depth+1)          // sizes[i]: the AnyValue at level i
	arr := make([]int, depth+1)            // arr[i]: the ArrayValue inside it
	sizes[0] = len(leaf)
	for i := 1; i <= depth; i++ {
		arr[i] = 1 + sizeVarint(sizes[i-1]) + sizes[i-1]
		sizes[i] = 1 + sizeVarint(arr[i]) + arr[i]
	}
	inner := make([]byte, 0, sizes[depth])
	for i := depth; i >= 1; i-- {
		inner = append(inner, 5<<3|2) // AnyValue.array_value
		inner = appendVarint(inner, arr[i])
		inner = append(inner, 1<<3|2) // ArrayValue.values
		inner = appendVarint(inner, sizes[i-1])
	}
	inner = append(inner, leaf...)
	kv := append(protowireBytes(1, []byte("k")), protowireBytes(2, inner)...) // KeyValue
	res := protowireBytes(1, kv)                                              // Resource.attributes
	rm := protowireBytes(1, res)                                              // ResourceMetrics.resource
	return protowireBytes(1, rm)                                              // request.resource_metrics
}

func protowireBytes(num int, b []byte) []byte {
	out := appendVarint([]byte{byte(num<<3 | 2)}, len(b))
	return append(out, b...)
}

func appendVarint(b []byte, v int) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func sizeVarint(v int) int { return len(appendVarint(nil, v)) }

package queryrange

import (
	"math/rand/v2"
	"testing"

	v1 "github.com/prometheus/prometheus/web/api/v1"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/resultpb"
	"github.com/hearthmetrics/hearth/proto/resultpb/resultpbtest"
)

// TestEncodeIsPrometheusJSON: the frontend writes a result byte for byte
// as Prometheus's API writes it, whether it read the result from the
// querier's JSON or from its binary form: floats (NaN, ±Inf, -0, exponent
// forms), timestamps, native histograms of every schema, label values
// with quotes, HTML and control characters, and annotations.
func TestEncodeIsPrometheusJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	annotations := [][]string{nil, {"PromQL warning: x"}, {"<&>\u2028\x01\b", "ünï \"q\"\\"}}
	for i := range 2000 {
		v := resultpbtest.RandomValue(r, true)
		warnings, infos := annotations[r.IntN(3)], annotations[r.IntN(3)]
		want, err := v1.JSONCodec{}.Encode(&v1.Response{Status: "success", Data: &v1.QueryData{ResultType: v.Type(), Result: v}, Warnings: warnings, Infos: infos})
		require.NoError(t, err)

		fromJSON, err := decodeResponseBody(want)
		require.NoError(t, err)
		got, err := fromJSON.encode()
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "case %d, from JSON: %v", i, v)

		bin, err := resultpb.Append(nil, v, warnings, infos)
		require.NoError(t, err)
		fromBinary, err := decodeBinaryBody(bin)
		require.NoError(t, err)
		got, err = fromBinary.encode()
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "case %d, from binary: %v", i, v)
	}
}

// FuzzDecodeBinaryResponse: no querier answer in the binary form panics
// the frontend's decoder, the merge or the encoder, and what decodes
// writes JSON that decodes back to the same response.
func FuzzDecodeBinaryResponse(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 10 {
		b, err := resultpb.Append(nil, resultpbtest.RandomValue(r, true), []string{"w"}, nil)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := decodeBinaryBody(body)
		if err != nil {
			return
		}
		if resp.ResultType == typeMatrix {
			_ = mergeMatrices([]*Response{resp, resp})
		}
		js, err := resp.encode()
		require.NoError(t, err)
		again, err := decodeResponseBody(js)
		require.NoError(t, err, "%s", js)
		js2, err := again.encode()
		require.NoError(t, err)
		require.Equal(t, string(js), string(js2))
	})
}

package ingesterpb

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

func TestMatchersRoundTrip(t *testing.T) {
	in := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchEqual, "job", "api"),
		labels.MustNewMatcher(labels.MatchNotEqual, "env", ""),
		labels.MustNewMatcher(labels.MatchRegexp, "__name__", "up|down"),
		labels.MustNewMatcher(labels.MatchNotRegexp, "path", "/debug/.*"),
	}
	wire, err := FromLabelMatchers(in)
	require.NoError(t, err)
	out, err := ToLabelMatchers(wire)
	require.NoError(t, err)
	require.Len(t, out, len(in))
	for i := range in {
		require.Equal(t, in[i].String(), out[i].String())
	}
}

func TestToLabelMatchersErrors(t *testing.T) {
	tests := map[string]struct {
		in      LabelMatcher
		wantErr string
	}{
		"bad regexp":   {in: LabelMatcher{Type: LabelMatcher_TYPE_RE, Name: "job", Value: "("}, wantErr: "matcher job"},
		"unknown type": {in: LabelMatcher{Type: 9, Name: "job"}, wantErr: "unknown type 9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ToLabelMatchers([]LabelMatcher{tc.in})
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestChunkEncodingRoundTrip(t *testing.T) {
	for _, e := range []chunkenc.Encoding{chunkenc.EncXOR, chunkenc.EncHistogram, chunkenc.EncFloatHistogram} {
		w, err := FromChunkEncoding(e)
		require.NoError(t, err)
		back, err := w.ChunkEncoding()
		require.NoError(t, err)
		require.Equal(t, e, back)
	}
	_, err := FromChunkEncoding(chunkenc.EncNone)
	require.Error(t, err)
	_, err = Chunk_ENCODING_UNKNOWN.ChunkEncoding()
	require.Error(t, err)
}

package ingesterpb

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// The mappings between wire enums and Prometheus's types, written once for
// both ends of the ingester protocol.

var (
	matchTypeToWire = map[labels.MatchType]LabelMatcher_Type{
		labels.MatchEqual:     LabelMatcher_TYPE_EQ,
		labels.MatchNotEqual:  LabelMatcher_TYPE_NEQ,
		labels.MatchRegexp:    LabelMatcher_TYPE_RE,
		labels.MatchNotRegexp: LabelMatcher_TYPE_NRE,
	}
	matchTypeFromWire = map[LabelMatcher_Type]labels.MatchType{
		LabelMatcher_TYPE_EQ:  labels.MatchEqual,
		LabelMatcher_TYPE_NEQ: labels.MatchNotEqual,
		LabelMatcher_TYPE_RE:  labels.MatchRegexp,
		LabelMatcher_TYPE_NRE: labels.MatchNotRegexp,
	}
	encodingToWire = map[chunkenc.Encoding]Chunk_Encoding{
		chunkenc.EncXOR:            Chunk_ENCODING_XOR,
		chunkenc.EncHistogram:      Chunk_ENCODING_HISTOGRAM,
		chunkenc.EncFloatHistogram: Chunk_ENCODING_FLOAT_HISTOGRAM,
	}
	encodingFromWire = map[Chunk_Encoding]chunkenc.Encoding{
		Chunk_ENCODING_XOR:             chunkenc.EncXOR,
		Chunk_ENCODING_HISTOGRAM:       chunkenc.EncHistogram,
		Chunk_ENCODING_FLOAT_HISTOGRAM: chunkenc.EncFloatHistogram,
	}
)

// FromLabelMatchers converts Prometheus matchers to their wire form.
func FromLabelMatchers(ms []*labels.Matcher) ([]LabelMatcher, error) {
	out := make([]LabelMatcher, 0, len(ms))
	for _, m := range ms {
		t, ok := matchTypeToWire[m.Type]
		if !ok {
			return nil, fmt.Errorf("matcher %s: unknown type %d", m.Name, m.Type)
		}
		out = append(out, LabelMatcher{Type: t, Name: m.Name, Value: m.Value})
	}
	return out, nil
}

// ToLabelMatchers converts wire matchers to Prometheus's, compiling
// regular expressions; the error names the bad matcher.
func ToLabelMatchers(in []LabelMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, 0, len(in))
	for _, m := range in {
		t, ok := matchTypeFromWire[m.Type]
		if !ok {
			return nil, fmt.Errorf("matcher %s: unknown type %d", m.Name, m.Type)
		}
		lm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m.Name, err)
		}
		out = append(out, lm)
	}
	return out, nil
}

// FromChunkEncoding returns the wire form of a chunk encoding.
func FromChunkEncoding(e chunkenc.Encoding) (Chunk_Encoding, error) {
	if w, ok := encodingToWire[e]; ok {
		return w, nil
	}
	return Chunk_ENCODING_UNKNOWN, fmt.Errorf("chunk encoding %s has no wire form", e)
}

// ChunkEncoding returns the Prometheus encoding of a wire chunk.
func (e Chunk_Encoding) ChunkEncoding() (chunkenc.Encoding, error) {
	if c, ok := encodingFromWire[e]; ok {
		return c, nil
	}
	return chunkenc.EncNone, fmt.Errorf("unknown chunk encoding %d", e)
}

package memberlist

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWireRoundTrip(t *testing.T) {
	tests := map[string][]record{
		"one record":     {{key: "ingester.ring", codecID: "c", value: []byte("v")}},
		"several":        {{key: "a", codecID: "c1", value: []byte{0, 1, 2}}, {key: "b", codecID: "c2", value: []byte{}}},
		"empty strings":  {{}},
		"no records":     nil,
		"a large record": {{key: "k", codecID: "c", value: make([]byte, 100_000)}},
	}
	for name, recs := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseRecords(appendRecords(nil, recs...))
			require.NoError(t, err)
			require.Len(t, got, len(recs))
			for i := range recs {
				require.Equal(t, recs[i].key, got[i].key)
				require.Equal(t, recs[i].codecID, got[i].codecID)
				require.Len(t, got[i].value, len(recs[i].value))
			}
		})
	}
}

func TestWireRejects(t *testing.T) {
	full := appendRecords(nil, record{key: "key", codecID: "codec", value: []byte("value")})
	tests := map[string][]byte{
		"empty":           {},
		"unknown version": {2},
		"truncated":       full[:len(full)-1],
		"huge length":     {wireVersion, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":      {wireVersion, 0xff},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseRecords(b)
			require.Error(t, err)
		})
	}
}

func FuzzParseRecords(f *testing.F) {
	f.Add(appendRecords(nil, record{key: "key", codecID: "codec", value: []byte("value")}))
	f.Add([]byte{wireVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseRecords(b)
		if err != nil {
			return
		}
		again, err := parseRecords(appendRecords(nil, recs...))
		require.NoError(t, err)
		require.Len(t, again, len(recs))
	})
}

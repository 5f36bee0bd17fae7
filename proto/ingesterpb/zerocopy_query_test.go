package ingesterpb

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func testQueryResponses() map[string]*QueryStreamResponse {
	many := &QueryStreamResponse{}
	for i := range 50 {
		many.Series = append(many.Series, ChunkSeries{
			Labels: []LabelPair{{Name: "__name__", Value: "up"}, {Name: "instance", Value: string(rune('a' + i%26))}},
			Chunks: []Chunk{
				{MinTimeMs: int64(i), MaxTimeMs: int64(i) + 7200000, Encoding: Chunk_ENCODING_XOR, Data: bytes.Repeat([]byte{byte(i)}, 120)},
				{MinTimeMs: -5, MaxTimeMs: 5, Encoding: Chunk_ENCODING_FLOAT_HISTOGRAM, Data: []byte{1, 2, 3}},
			},
		})
	}
	return map[string]*QueryStreamResponse{
		"empty":          {},
		"labels only":    {Series: []ChunkSeries{{Labels: []LabelPair{{Name: "job", Value: "api"}}}}},
		"empty chunk":    {Series: []ChunkSeries{{Chunks: []Chunk{{Encoding: Chunk_ENCODING_HISTOGRAM}}}}},
		"negative times": {Series: []ChunkSeries{{Chunks: []Chunk{{MinTimeMs: -1 << 40, MaxTimeMs: -1, Data: []byte{9}}}}}},
		"many series":    many,
		"unicode labels": {Series: []ChunkSeries{{Labels: []LabelPair{{Name: "ünïcode", Value: "välue with spaces"}}}}},
	}
}

// checkQueryAgainstGogo decodes data with both decoders: when gogo accepts
// it, the zero-copy result must marshal to the same bytes as gogo's; the
// zero-copy decoder must not accept what gogo rejects.
func checkQueryAgainstGogo(t *testing.T, data []byte, mustSucceed bool) {
	t.Helper()
	var want, got QueryStreamResponse
	wantErr := want.Unmarshal(data)
	gotErr := got.UnmarshalZeroCopy(data)
	if mustSucceed {
		require.NoError(t, wantErr)
		require.NoError(t, gotErr)
	}
	if gotErr == nil {
		require.NoError(t, wantErr, "zero-copy decoder accepted input gogo rejects")
	}
	if wantErr != nil || gotErr != nil {
		return
	}
	require.Equal(t, mustMarshal(t, &want), mustMarshal(t, &got))
}

func TestQueryStreamResponseZeroCopyMatchesGogo(t *testing.T) {
	reused := &QueryStreamResponse{}
	for name, resp := range testQueryResponses() {
		t.Run(name, func(t *testing.T) {
			data := mustMarshal(t, resp)
			checkQueryAgainstGogo(t, data, true)
			require.NoError(t, reused.UnmarshalZeroCopy(data))
			require.Equal(t, data, mustMarshal(t, reused))
		})
	}
}

func TestQueryStreamResponseZeroCopyMalformed(t *testing.T) {
	tests := map[string]struct {
		data      []byte
		wantErr   error
		wantField string
	}{
		"truncated series":     {data: []byte{0x0a, 0x05, 0x0a}, wantErr: ErrTruncated, wantField: "QueryStreamResponse.series"},
		"series as varint":     {data: []byte{0x08, 0x01}, wantErr: ErrWrongWireType, wantField: "QueryStreamResponse.series"},
		"chunk data as varint": {data: []byte{0x0a, 0x04, 0x12, 0x02, 0x20, 0x01}, wantErr: ErrWrongWireType, wantField: "Chunk.data"},
		"chunk time as bytes":  {data: []byte{0x0a, 0x04, 0x12, 0x02, 0x0a, 0x00}, wantErr: ErrWrongWireType, wantField: "Chunk.min_time_ms"},
		"chunk data truncated": {data: []byte{0x0a, 0x04, 0x12, 0x02, 0x22, 0x05}, wantErr: ErrTruncated, wantField: "Chunk.data"},
		"label as varint":      {data: []byte{0x0a, 0x02, 0x08, 0x01}, wantErr: ErrWrongWireType, wantField: "ChunkSeries.labels"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m QueryStreamResponse
			err := m.UnmarshalZeroCopy(tc.data)
			require.ErrorIs(t, err, tc.wantErr)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tc.wantField, de.Field, err.Error())
			require.Error(t, new(QueryStreamResponse).Unmarshal(tc.data))
		})
	}
}

func TestQueryStreamResponseZeroCopyAliasesInput(t *testing.T) {
	data := mustMarshal(t, testQueryResponses()["labels only"])
	var m QueryStreamResponse
	require.NoError(t, m.UnmarshalZeroCopy(data))
	data[bytes.Index(data, []byte("api"))] = 'A'
	require.Equal(t, "Api", m.Series[0].Labels[0].Value)
}

func FuzzQueryStreamResponseZeroCopy(f *testing.F) {
	for _, resp := range testQueryResponses() {
		f.Add(mustMarshal(f, resp))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkQueryAgainstGogo(t, data, false)
	})
}

func BenchmarkQueryStreamResponseUnmarshal(b *testing.B) {
	data := mustMarshal(b, testQueryResponses()["many series"])
	b.Run("gogo", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var m QueryStreamResponse
			if err := m.Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	// A fresh message each time, as gRPC's stream Recv does.
	b.Run("zerocopy", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var m QueryStreamResponse
			if err := m.UnmarshalZeroCopy(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

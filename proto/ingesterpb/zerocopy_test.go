package ingesterpb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testRequests() map[string]*PushRequest {
	return map[string]*PushRequest{
		"empty": {},
		"one series one sample": {Timeseries: []TimeSeries{{
			Labels:  []LabelPair{{Name: "__name__", Value: "up"}, {Name: "job", Value: "node"}},
			Samples: []Sample{{Value: 1, TimestampMs: 1700000000000}},
		}}},
		"negative timestamp, NaN and empty value": {Timeseries: []TimeSeries{{
			Labels:  []LabelPair{{Name: "__name__", Value: ""}, {Name: "", Value: "x"}},
			Samples: []Sample{{Value: math.NaN(), TimestampMs: -5}, {Value: math.Inf(-1)}},
		}}},
		"exemplars, histograms, metadata and source": {
			Timeseries: []TimeSeries{{
				Labels:    []LabelPair{{Name: "__name__", Value: "http_request_duration_seconds"}},
				Exemplars: []Exemplar{{Labels: []LabelPair{{Name: "trace_id", Value: "abc"}}, Value: 0.5, TimestampMs: 3}},
				Histograms: []Histogram{
					{
						Count: &Histogram_CountInt{CountInt: 12}, Sum: 3.5, Schema: -3, ZeroThreshold: 1e-128,
						ZeroCount:     &Histogram_ZeroCountInt{ZeroCountInt: 0},
						NegativeSpans: []BucketSpan{{Offset: -2, Length: 2}}, NegativeDeltas: []int64{1, -1},
						PositiveSpans: []BucketSpan{{Offset: 0, Length: 3}, {Offset: 5, Length: 1}}, PositiveDeltas: []int64{5, -2, 3, -100},
						ResetHint: Histogram_RESET_HINT_GAUGE, TimestampMs: 42,
					},
					{
						Count: &Histogram_CountFloat{CountFloat: 7.5}, Sum: -1, Schema: -53,
						ZeroCount:      &Histogram_ZeroCountFloat{ZeroCountFloat: 0.25},
						PositiveSpans:  []BucketSpan{{Length: 2}},
						PositiveCounts: []float64{1.5, 6}, NegativeCounts: []float64{0},
						CustomValues: []float64{0.1, 0.5, math.Inf(1)}, TimestampMs: 43,
					},
				},
			}},
			Metadata: []MetricMetadata{{Type: MetricMetadata_METRIC_TYPE_HISTOGRAM, MetricFamilyName: "http_request_duration_seconds", Help: "Latency.", Unit: "seconds"}},
			Source:   Source_SOURCE_RULE,
		},
		"many series": manySeries(50, 10, 3),
	}
}

func manySeries(series, labels, samples int) *PushRequest {
	req := &PushRequest{}
	for s := range series {
		ts := TimeSeries{Labels: []LabelPair{{Name: "__name__", Value: "avalanche_gauge_metric_mmmmm_0_0"}}}
		for l := range labels {
			ts.Labels = append(ts.Labels, LabelPair{Name: fmt.Sprintf("label_key_kkkkk_%d", l), Value: fmt.Sprintf("label_val_vvvvv_%d_%d", l, s)})
		}
		for i := range samples {
			ts.Samples = append(ts.Samples, Sample{Value: float64(s * i), TimestampMs: 1700000000000 + int64(i)*15000})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return req
}

func mustMarshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	return b
}

func TestUnmarshalZeroCopyMatchesGogo(t *testing.T) {
	reused := &PushRequest{}
	for name, req := range testRequests() {
		t.Run(name, func(t *testing.T) {
			data := mustMarshal(t, req)
			checkAgainstGogo(t, data, true)

			// Decoding into a message that held another request gives
			// the same result as decoding into a fresh one.
			require.NoError(t, reused.UnmarshalZeroCopy(data))
			require.Equal(t, data, mustMarshal(t, reused))
		})
	}
}

// checkAgainstGogo decodes data with both decoders. When both succeed the
// results must marshal to the same bytes; the zero-copy decoder must not
// accept what gogo rejects. When mustSucceed, both must succeed.
func checkAgainstGogo(t *testing.T, data []byte, mustSucceed bool) {
	t.Helper()
	var want PushRequest
	wantErr := want.Unmarshal(data)
	var got PushRequest
	info, gotErr := got.UnmarshalZeroCopyInfo(data, DecodeLimits{})
	if mustSucceed {
		require.NoError(t, wantErr)
		require.NoError(t, gotErr)
	}
	if gotErr == nil {
		require.NoError(t, wantErr, "zero-copy decoder accepted input gogo rejects")
	}
	if wantErr != nil {
		return
	}
	if gotErr != nil {
		// The zero-copy decoder is stricter in one corner (a packed
		// double run whose length is not a multiple of 8, which gogo
		// reads past); it must accept gogo's canonical re-encoding.
		var de *DecodeError
		require.ErrorAs(t, gotErr, &de)
		require.ErrorIs(t, gotErr, ErrBadLength)
	}
	canonical := mustMarshal(t, &want)
	if gotErr == nil {
		require.Equal(t, canonical, mustMarshal(t, &got))
		require.Equal(t, seriesLabelsASCII(&want), info.ASCIILabels, "DecodeInfo.ASCIILabels")
	}
	var again PushRequest
	require.NoError(t, again.UnmarshalZeroCopy(canonical))
	require.Equal(t, canonical, mustMarshal(t, &again))
}

// seriesLabelsASCII says whether every series label name and value of m
// is ASCII, the slow way.
func seriesLabelsASCII(m *PushRequest) bool {
	for _, ts := range m.Timeseries {
		for _, l := range ts.Labels {
			for _, s := range []string{l.Name, l.Value} {
				for i := range len(s) {
					if s[i] >= 0x80 {
						return false
					}
				}
			}
		}
	}
	return true
}

// TestUnmarshalZeroCopyInfoASCII checks DecodeInfo.ASCIILabels on the
// decoder's fast path (name then value, one-byte lengths) and on the
// layouts it leaves to the general decoder.
func TestUnmarshalZeroCopyInfoASCII(t *testing.T) {
	long := strings.Repeat("v", 200)
	pair := func(fields ...[]byte) []byte { return bytes.Join(fields, nil) }
	str := func(field byte, s string) []byte {
		b := []byte{field<<3 | 2}
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	series := func(pairs ...[]byte) []byte {
		var ts []byte
		for _, p := range pairs {
			ts = append(ts, str(1, string(p))...)
		}
		return str(1, string(ts))
	}
	tests := map[string]struct {
		data []byte
		want bool
	}{
		"ASCII, fast path":                              {series(pair(str(1, "__name__"), str(2, "up")), pair(str(1, "job"), str(2, "node"))), true},
		"non-ASCII value, fast path":                    {series(pair(str(1, "__name__"), str(2, "up")), pair(str(1, "city"), str(2, "Zürich"))), false},
		"non-ASCII name, fast path":                     {series(pair(str(1, "__name__"), str(2, "up")), pair(str(1, "größe"), str(2, "1"))), false},
		"ASCII value of 200 bytes":                      {series(pair(str(1, "__name__"), str(2, "up")), pair(str(1, "v"), str(2, long))), true},
		"non-ASCII value of 200 bytes":                  {series(pair(str(1, "__name__"), str(2, "up")), pair(str(1, "v"), str(2, long+"é"))), false},
		"value before name, ASCII":                      {series(pair(str(2, "up"), str(1, "__name__"))), true},
		"value before name, non-ASCII":                  {series(pair(str(2, "ü"), str(1, "__name__"))), false},
		"name only, non-ASCII":                          {series(pair(str(1, "ü"))), false},
		"name given twice, the last one (ASCII) counts": {series(pair(str(1, "ü"), str(1, "a"), str(2, "b"))), true},
		// Only series labels count, not an exemplar's (field 3).
		"non-ASCII exemplar label only": {str(1, string(append(
			str(1, string(pair(str(1, "__name__"), str(2, "up")))),
			str(3, string(str(1, string(pair(str(1, "trace_id"), str(2, "ü"))))))...))), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m PushRequest
			info, err := m.UnmarshalZeroCopyInfo(tc.data, DecodeLimits{})
			require.NoError(t, err)
			require.Equal(t, tc.want, info.ASCIILabels)
			require.Equal(t, seriesLabelsASCII(&m), info.ASCIILabels)
			checkAgainstGogo(t, tc.data, true)
		})
	}
}

func TestUnmarshalZeroCopySkipsUnknownFields(t *testing.T) {
	data := mustMarshal(t, testRequests()["one series one sample"])
	// Field 2 of PushRequest is reserved; append it as bytes, a varint
	// field 99 and a group holding a varint.
	data = append(data, 0x12, 0x02, 'h', 'i')
	data = append(data, 0x98, 0x06, 0x01)       // field 99, varint 1
	data = append(data, 0xa3, 0x06, 0x08, 0x01) // start group 100, field 1 varint 1
	data = append(data, 0xa4, 0x06)             // end group 100
	var got PushRequest
	require.NoError(t, got.UnmarshalZeroCopy(data))
	require.Len(t, got.Timeseries, 1)
	require.Equal(t, "up", got.Timeseries[0].Labels[0].Value)
	checkAgainstGogo(t, data, true)
}

func TestUnmarshalZeroCopyMalformed(t *testing.T) {
	valid := mustMarshal(t, testRequests()["one series one sample"])
	tests := map[string]struct {
		data      []byte
		wantErr   error
		wantField string
		wantOff   int
	}{
		"truncated length prefix":    {data: []byte{0x0a}, wantErr: ErrTruncated, wantField: "PushRequest.timeseries", wantOff: 1},
		"length beyond the input":    {data: []byte{0x0a, 0x05, 0x0a}, wantErr: ErrTruncated, wantField: "PushRequest.timeseries", wantOff: 1},
		"truncated whole request":    {data: valid[:len(valid)-1], wantErr: ErrTruncated, wantField: "PushRequest.timeseries", wantOff: 1},
		"timeseries as varint":       {data: []byte{0x08, 0x01}, wantErr: ErrWrongWireType, wantField: "PushRequest.timeseries", wantOff: 0},
		"source as bytes":            {data: []byte{0x22, 0x00}, wantErr: ErrWrongWireType, wantField: "PushRequest.source", wantOff: 0},
		"field number zero":          {data: []byte{0x00, 0x01}, wantErr: ErrIllegalTag, wantField: "PushRequest", wantOff: 0},
		"end group without start":    {data: []byte{0x0c}, wantErr: ErrEndGroup, wantField: "PushRequest", wantOff: 0},
		"unknown wire type 7":        {data: []byte{0x2f}, wantErr: ErrWrongWireType, wantField: "PushRequest", wantOff: 0},
		"varint of 11 bytes":         {data: []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: ErrVarintOverflow, wantField: "PushRequest.source", wantOff: 1},
		"label name as varint":       {data: []byte{0x0a, 0x04, 0x0a, 0x02, 0x08, 0x01}, wantErr: ErrWrongWireType, wantField: "LabelPair.name", wantOff: 4},
		"label value truncated":      {data: []byte{0x0a, 0x05, 0x0a, 0x03, 0x12, 0x05, 'a'}, wantErr: ErrTruncated, wantField: "LabelPair.value", wantOff: 5},
		"sample value truncated":     {data: []byte{0x0a, 0x04, 0x12, 0x02, 0x09, 0x00}, wantErr: ErrTruncated, wantField: "Sample.value", wantOff: 5},
		"histogram schema as bytes":  {data: []byte{0x0a, 0x04, 0x22, 0x02, 0x22, 0x00}, wantErr: ErrWrongWireType, wantField: "Histogram.schema", wantOff: 4},
		"packed doubles of 7 bytes":  {data: []byte{0x0a, 0x0b, 0x22, 0x09, 0x6a, 0x07, 0, 0, 0, 0, 0, 0, 0}, wantErr: ErrBadLength, wantField: "Histogram.positive_counts", wantOff: 5},
		"unknown field truncated":    {data: []byte{0x0a, 0x03, 0x12, 0x01, 0x59}, wantErr: ErrTruncated, wantField: "Sample", wantOff: 4},
		"metadata help wrong type":   {data: []byte{0x1a, 0x02, 0x20, 0x01}, wantErr: ErrWrongWireType, wantField: "MetricMetadata.help", wantOff: 2},
		"exemplar labels truncated":  {data: []byte{0x0a, 0x04, 0x1a, 0x02, 0x0a, 0x05}, wantErr: ErrTruncated, wantField: "Exemplar.labels", wantOff: 5},
		"bucket span offset as fix":  {data: []byte{0x0a, 0x0d, 0x22, 0x0b, 0x42, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: ErrWrongWireType, wantField: "BucketSpan.offset", wantOff: 6},
		"huge length does not panic": {data: []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: ErrBadLength, wantField: "PushRequest.timeseries", wantOff: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m PushRequest
			err := m.UnmarshalZeroCopy(tc.data)
			require.ErrorIs(t, err, tc.wantErr)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tc.wantField, de.Field, err.Error())
			require.Equal(t, tc.wantOff, de.Offset, err.Error())
			// gogo rejects it too.
			require.Error(t, new(PushRequest).Unmarshal(tc.data))
		})
	}
}

func TestUnmarshalZeroCopyStringsAliasInput(t *testing.T) {
	data := mustMarshal(t, testRequests()["one series one sample"])
	var m PushRequest
	require.NoError(t, m.UnmarshalZeroCopy(data))
	require.Equal(t, "up", m.Timeseries[0].Labels[0].Value)
	// Overwriting the input changes the decoded strings: they alias it.
	i := bytes.Index(data, []byte("up"))
	data[i] = 'U'
	require.Equal(t, "Up", m.Timeseries[0].Labels[0].Value)
}

func TestUnmarshalZeroCopyAllocatesNothingWhenReused(t *testing.T) {
	tests := map[string]*PushRequest{
		"float series":               manySeries(100, 10, 2),
		"histograms and exemplars":   testRequests()["exemplars, histograms, metadata and source"],
		"same request decoded again": testRequests()["many series"],
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			data := mustMarshal(t, req)
			var m PushRequest
			require.NoError(t, m.UnmarshalZeroCopy(data))
			allocs := testing.AllocsPerRun(10, func() {
				if err := m.UnmarshalZeroCopy(data); err != nil {
					panic(err)
				}
			})
			require.Zero(t, allocs)
		})
	}
}

func FuzzUnmarshalZeroCopy(f *testing.F) {
	for _, req := range testRequests() {
		f.Add(mustMarshal(f, req))
	}
	f.Add([]byte{0x0a, 0x0b, 0x22, 0x09, 0x6a, 0x07, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstGogo(t, data, false)
	})
}

func BenchmarkUnmarshalZeroCopy(b *testing.B) {
	for _, bc := range []struct {
		name                    string
		series, labels, samples int
	}{
		{"2000x10labels_1sample", 2000, 10, 1},
		{"2000x10labels_10samples", 2000, 10, 10},
	} {
		req := manySeries(bc.series, bc.labels, bc.samples)
		data := mustMarshal(b, req)
		nSamples := float64(bc.series * bc.samples)
		b.Run("zerocopy/"+bc.name, func(b *testing.B) {
			var m PushRequest
			require.NoError(b, m.UnmarshalZeroCopy(data)) // warm the slices, as a pooled request is
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := m.UnmarshalZeroCopy(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nSamples, "ns/sample")
		})
		b.Run("gogo/"+bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var m PushRequest
				if err := m.Unmarshal(data); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nSamples, "ns/sample")
		})
	}
}

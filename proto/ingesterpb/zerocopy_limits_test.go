package ingesterpb

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Issue #13 item 4: 2 bytes of input per empty series or empty label
// decode into tens of bytes each. The limits stop decoding before the part
// over them is decoded, and name the request's actual count.
func TestUnmarshalZeroCopyLimits(t *testing.T) {
	emptySeries := bytes.Repeat([]byte{0x0a, 0x00}, 500_000) // 500,000 empty series
	// One series of 500,000 empty labels.
	labels := bytes.Repeat([]byte{0x0a, 0x00}, 500_000)
	oneSeries := append([]byte{0x0a}, appendVarint(nil, uint64(len(labels)))...)
	oneSeries = append(oneSeries, labels...)
	// Exemplar labels count too: a series with 3 labels and an exemplar
	// of 2.
	withExemplar := mustMarshal(t, &PushRequest{Timeseries: []TimeSeries{{
		Labels:    []LabelPair{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "c", Value: "3"}},
		Exemplars: []Exemplar{{Labels: []LabelPair{{Name: "x", Value: "1"}, {Name: "y", Value: "2"}}}},
	}}})
	tests := map[string]struct {
		data     []byte
		lim      DecodeLimits
		want     DecodeLimitError
		maxAlloc uint64
	}{
		"500,000 empty series, limit 1,000":  {data: emptySeries, lim: DecodeLimits{MaxSeries: 1000}, want: DecodeLimitError{What: "series", Actual: 500_000, Limit: 1000}, maxAlloc: 1 << 20},
		"500,000 empty labels, limit 1,000":  {data: oneSeries, lim: DecodeLimits{MaxLabels: 1000}, want: DecodeLimitError{What: "labels", Actual: 500_000, Limit: 1000}, maxAlloc: 1 << 20},
		"exemplar labels count, limit 4":     {data: withExemplar, lim: DecodeLimits{MaxLabels: 4}, want: DecodeLimitError{What: "labels", Actual: 5, Limit: 4}, maxAlloc: 1 << 20},
		"500,000 empty series, limit 1":      {data: emptySeries, lim: DecodeLimits{MaxSeries: 1}, want: DecodeLimitError{What: "series", Actual: 500_000, Limit: 1}, maxAlloc: 1 << 20},
		"exemplar labels, limit 5 is enough": {data: withExemplar, lim: DecodeLimits{MaxLabels: 5}, maxAlloc: 1 << 20},
	}
	t.Logf("without limits: %d bytes of empty series allocate %d bytes, %d bytes of empty labels %d bytes",
		len(emptySeries), allocated(func() { _ = new(PushRequest).UnmarshalZeroCopy(emptySeries) }),
		len(oneSeries), allocated(func() { _ = new(PushRequest).UnmarshalZeroCopy(oneSeries) }))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var err error
			n := allocated(func() {
				var m PushRequest
				err = m.UnmarshalZeroCopyLimits(tc.data, tc.lim)
			})
			require.Less(t, n, tc.maxAlloc, "allocated %d bytes", n)
			if tc.want.What == "" {
				require.NoError(t, err)
				return
			}
			var le *DecodeLimitError
			require.ErrorAs(t, err, &le)
			require.Equal(t, tc.want, *le)
			require.ErrorIs(t, err, ErrDecodeLimit)
		})
	}
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

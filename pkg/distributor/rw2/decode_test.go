package rw2

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/wire"
)

// testRequest builds a request of n series with labels, samples, a native
// histogram, an exemplar and metadata, symbolised as Prometheus does.
func testRequest(n, labelsPerSeries int) *writev2.Request {
	st := writev2.NewSymbolTable()
	req := &writev2.Request{}
	for i := range n {
		ts := writev2.TimeSeries{}
		ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize("__name__"), st.Symbolize(fmt.Sprintf("metric_%d", i/10)))
		for l := range labelsPerSeries {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(fmt.Sprintf("label_%02d", l)), st.Symbolize(fmt.Sprintf("value_%d_%d", l, i)))
		}
		ts.Samples = []writev2.Sample{{Value: float64(i), Timestamp: 1700000000000 + int64(i)}}
		if i%10 == 0 {
			ts.Histograms = []writev2.Histogram{{
				Count: &writev2.Histogram_CountInt{CountInt: 3}, Sum: 1.5, Schema: 1,
				ZeroCount:     &writev2.Histogram_ZeroCountInt{ZeroCountInt: 1},
				PositiveSpans: []writev2.BucketSpan{{Offset: 1, Length: 2}}, PositiveDeltas: []int64{1, 0},
				Timestamp: 1700000000000, StartTimestamp: 1690000000000,
			}}
			ts.Exemplars = []writev2.Exemplar{{LabelsRefs: []uint32{st.Symbolize("trace_id"), st.Symbolize("abc")}, Value: 1, Timestamp: 1700000000000}}
		}
		ts.Metadata = writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: st.Symbolize("Help text."), UnitRef: st.Symbolize("seconds")}
		req.Timeseries = append(req.Timeseries, ts)
	}
	req.Symbols = st.Symbols()
	return req
}

func marshal(t testing.TB, m interface{ Marshal() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.Marshal()
	require.NoError(t, err)
	return b
}

// reference decodes with the upstream gogo types and converts naively.
func reference(data []byte) (*ingesterpb.PushRequest, error) {
	var r writev2.Request
	if err := r.Unmarshal(data); err != nil {
		return nil, err
	}
	if len(r.Symbols) > 0 && r.Symbols[0] != "" {
		return nil, errFirstSymbol
	}
	sym := func(ref uint32) (string, error) {
		if ref == 0 && len(r.Symbols) == 0 {
			return "", nil
		}
		if int(ref) >= len(r.Symbols) {
			return "", ErrRefOutOfRange
		}
		return r.Symbols[ref], nil
	}
	out := &ingesterpb.PushRequest{}
	for _, ts := range r.Timeseries {
		var s ingesterpb.TimeSeries
		if len(ts.LabelsRefs)%2 != 0 {
			return nil, ErrRefOutOfRange
		}
		for j := 0; j < len(ts.LabelsRefs); j += 2 {
			n, err1 := sym(ts.LabelsRefs[j])
			v, err2 := sym(ts.LabelsRefs[j+1])
			if err := errors.Join(err1, err2); err != nil {
				return nil, err
			}
			s.Labels = append(s.Labels, ingesterpb.LabelPair{Name: n, Value: v})
		}
		for _, smp := range ts.Samples {
			s.Samples = append(s.Samples, ingesterpb.Sample{Value: smp.Value, TimestampMs: smp.Timestamp})
		}
		for _, h := range ts.Histograms {
			var ih ingesterpb.Histogram
			b, err := h.Marshal()
			if err != nil {
				return nil, err
			}
			if err := ih.Unmarshal(b); err != nil {
				return nil, err
			}
			s.Histograms = append(s.Histograms, ih)
		}
		for _, e := range ts.Exemplars {
			ie := ingesterpb.Exemplar{Value: e.Value, TimestampMs: e.Timestamp}
			if len(e.LabelsRefs)%2 != 0 {
				return nil, ErrRefOutOfRange
			}
			for j := 0; j < len(e.LabelsRefs); j += 2 {
				n, err1 := sym(e.LabelsRefs[j])
				v, err2 := sym(e.LabelsRefs[j+1])
				if err := errors.Join(err1, err2); err != nil {
					return nil, err
				}
				ie.Labels = append(ie.Labels, ingesterpb.LabelPair{Name: n, Value: v})
			}
			s.Exemplars = append(s.Exemplars, ie)
		}
		help, err1 := sym(ts.Metadata.HelpRef)
		unit, err2 := sym(ts.Metadata.UnitRef)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out.Timeseries = append(out.Timeseries, s)
		if (ts.Metadata.Type != 0 || help != "" || unit != "") && (len(s.Samples) > 0 || len(s.Histograms) > 0) {
			name := ""
			for _, l := range s.Labels {
				if l.Name == "__name__" {
					name = l.Value
					break
				}
			}
			m := ingesterpb.MetricMetadata{Type: ingesterpb.MetricMetadata_MetricType(ts.Metadata.Type), MetricFamilyName: name, Help: help, Unit: unit}
			if k := len(out.Metadata); k == 0 || !sameMetadata(out.Metadata[k-1], m) {
				out.Metadata = append(out.Metadata, m)
			}
		}
	}
	return out, nil
}

func TestDecodeMatchesReference(t *testing.T) {
	tests := map[string]*writev2.Request{
		"empty":                     {},
		"series with everything":    testRequest(30, 5),
		"no symbols, no references": {Timeseries: []writev2.TimeSeries{{Samples: []writev2.Sample{{Value: math.NaN(), Timestamp: -1}}}}},
	}
	var d Decoder
	var reused ingesterpb.PushRequest
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			data := marshal(t, req)
			want, err := reference(data)
			require.NoError(t, err)
			require.NoError(t, d.Decode(data, &reused))
			require.Equal(t, marshal(t, want), marshal(t, &reused))
		})
	}
}

// requireASCIILabels fails unless every series label of req is ASCII.
func requireASCIILabels(t *testing.T, req *ingesterpb.PushRequest) {
	t.Helper()
	for _, ts := range req.Timeseries {
		for _, l := range ts.Labels {
			for _, s := range []string{l.Name, l.Value} {
				for i := range len(s) {
					require.Less(t, s[i], byte(0x80), "label %q=%q said ASCII", l.Name, l.Value)
				}
			}
		}
	}
}

// TestDecodeASCIILabels checks the decoder's word on ASCII labels: every
// symbol is read once, so a non-ASCII help text says "not ASCII" too (and
// validation then checks every label, as before).
func TestDecodeASCIILabels(t *testing.T) {
	req := func(symbols ...string) *writev2.Request {
		return &writev2.Request{Symbols: symbols, Timeseries: []writev2.TimeSeries{{
			LabelsRefs: []uint32{1, 2, 3, 4}, Samples: []writev2.Sample{{Value: 1, Timestamp: 1}},
			Metadata: writev2.Metadata{HelpRef: 5},
		}}}
	}
	tests := map[string]struct {
		req  *writev2.Request
		want bool
	}{
		"ASCII":                      {req("", "__name__", "up", "job", "node", "Help."), true},
		"non-ASCII label value":      {req("", "__name__", "up", "city", "Zürich", "Help."), false},
		"non-ASCII label name":       {req("", "__name__", "up", "größe", "1", "Help."), false},
		"non-ASCII help":             {req("", "__name__", "up", "job", "node", "Hilfe für"), false},
		"long ASCII value":           {req("", "__name__", "up", "job", strings.Repeat("n", 300), "Help."), true},
		"non-ASCII past eight bytes": {req("", "__name__", "up", "job", "node_exporter_ü", "Help."), false},
	}
	d := new(Decoder)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got ingesterpb.PushRequest
			require.NoError(t, d.Decode(marshal(t, tc.req), &got))
			require.Equal(t, tc.want, d.ASCIILabels())
		})
	}
}

func TestDecodeSymbolsAfterSeries(t *testing.T) {
	req := testRequest(3, 2)
	data := marshal(t, &writev2.Request{Timeseries: req.Timeseries})
	data = append(data, marshal(t, &writev2.Request{Symbols: req.Symbols})...)
	var got ingesterpb.PushRequest
	require.NoError(t, new(Decoder).Decode(data, &got))
	want, err := reference(marshal(t, req))
	require.NoError(t, err)
	require.Equal(t, marshal(t, want), marshal(t, &got))
}

func TestDecodeRejectsBadInput(t *testing.T) {
	ok := testRequest(2, 1)
	oddRefs := *ok
	oddRefs.Timeseries = append([]writev2.TimeSeries{}, ok.Timeseries...)
	oddRefs.Timeseries[1].LabelsRefs = []uint32{1}
	outOfRange := *ok
	outOfRange.Timeseries = append([]writev2.TimeSeries{}, ok.Timeseries...)
	outOfRange.Timeseries[1].LabelsRefs = []uint32{1, 999}
	badHelp := *ok
	badHelp.Timeseries = append([]writev2.TimeSeries{}, ok.Timeseries...)
	badHelp.Timeseries[0].Metadata.HelpRef = 500
	badExemplar := *ok
	badExemplar.Timeseries = append([]writev2.TimeSeries{}, ok.Timeseries...)
	badExemplar.Timeseries[0].Exemplars = []writev2.Exemplar{{LabelsRefs: []uint32{1, 77}}}

	tests := map[string]struct {
		data    []byte
		wantErr error
		wantMsg string
	}{
		"first symbol not empty":     {data: marshal(t, &writev2.Request{Symbols: []string{"x"}}), wantErr: errFirstSymbol, wantMsg: "Request.symbols"},
		"odd labels_refs":            {data: marshal(t, &oddRefs), wantErr: ErrRefOutOfRange, wantMsg: "timeseries[1], TimeSeries.labels_refs"},
		"label ref out of range":     {data: marshal(t, &outOfRange), wantErr: ErrRefOutOfRange, wantMsg: "timeseries[1], TimeSeries.labels_refs at offset"},
		"help ref out of range":      {data: marshal(t, &badHelp), wantErr: ErrRefOutOfRange, wantMsg: "help_ref = 500"},
		"exemplar ref out of range":  {data: marshal(t, &badExemplar), wantErr: ErrRefOutOfRange, wantMsg: "timeseries[0], TimeSeries.exemplars"},
		"truncated":                  {data: marshal(t, ok)[:20], wantMsg: "at offset"},
		"timeseries as varint":       {data: []byte{0x28, 0x01}, wantErr: wire.ErrWrongWireType, wantMsg: "Request.timeseries at offset 0"},
		"symbols as varint":          {data: []byte{0x20, 0x01}, wantErr: wire.ErrWrongWireType, wantMsg: "Request.symbols"},
		"sample value as varint":     {data: []byte{0x2a, 0x04, 0x12, 0x02, 0x08, 0x01}, wantErr: wire.ErrWrongWireType, wantMsg: "timeseries[0], Sample.value at offset 4"},
		"histogram garbage":          {data: []byte{0x2a, 0x04, 0x1a, 0x02, 0x22, 0x00}, wantErr: wire.ErrWrongWireType, wantMsg: "timeseries[0], Histogram.schema at offset 4"},
		"packed refs overrun":        {data: []byte{0x2a, 0x03, 0x0a, 0x01, 0x80}, wantErr: wire.ErrBadLength, wantMsg: "timeseries[0], TimeSeries.labels_refs at offset 4"},
		"end group without a start":  {data: []byte{0x2c}, wantMsg: "end group"},
		"metadata type as fixed64":   {data: []byte{0x2a, 0x0b, 0x2a, 0x09, 0x09, 0, 0, 0, 0, 0, 0, 0, 0}, wantErr: wire.ErrWrongWireType, wantMsg: "timeseries[0], Metadata.type at offset 4"},
		"length beyond the input":    {data: []byte{0x2a, 0x10, 0x0a}, wantErr: wire.ErrTruncated, wantMsg: "Request.timeseries at offset 1: unexpected end of input"},
		"huge length does not panic": {data: []byte{0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, wantMsg: "Request.symbols"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got ingesterpb.PushRequest
			err := new(Decoder).Decode(tc.data, &got)
			require.Error(t, err)
			require.ErrorIs(t, err, remotewrite.ErrMalformed)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			require.Contains(t, err.Error(), tc.wantMsg)
		})
	}
}

func TestDecodeAllocatesNothingWhenReused(t *testing.T) {
	data := marshal(t, testRequest(200, 10))
	var d Decoder
	var got ingesterpb.PushRequest
	require.NoError(t, d.Decode(data, &got))
	allocs := testing.AllocsPerRun(10, func() {
		if err := d.Decode(data, &got); err != nil {
			panic(err)
		}
	})
	// Histogram oneof wrappers are reused too.
	require.Zero(t, allocs)
}

func FuzzDecode(f *testing.F) {
	f.Add(marshal(f, testRequest(3, 2)))
	f.Add(marshal(f, &writev2.Request{}))
	f.Add([]byte{0x2a, 0x03, 0x0a, 0x01, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got ingesterpb.PushRequest
		d := new(Decoder)
		err := d.Decode(data, &got)
		want, refErr := reference(data)
		if err == nil {
			require.NoError(t, refErr, "accepted what the reference rejects")
			require.Equal(t, marshal(t, want), marshal(t, &got))
			if d.ASCIILabels() {
				requireASCIILabels(t, &got)
			}
			return
		}
		require.ErrorIs(t, err, remotewrite.ErrMalformed)
		_ = want
		var r writev2.Request
		if r.Unmarshal(data) != nil {
			return // both reject the wire format
		}
		// gogo accepts a few non-canonical encodings (over-long varints,
		// sloppy groups) the decoder refuses; the canonical re-encoding of
		// what gogo read must decode to the same thing.
		discardUnknown(&r)
		canonical := marshal(t, &r)
		want2, refErr2 := reference(canonical)
		err2 := new(Decoder).Decode(canonical, &got)
		if refErr2 != nil {
			if errors.Is(refErr2, ErrRefOutOfRange) {
				refErr2 = ErrRefOutOfRange
			}
			require.ErrorIs(t, err2, refErr2)
			return
		}
		require.NoError(t, err2)
		require.Equal(t, marshal(t, want2), marshal(t, &got))
	})
}

func BenchmarkDecode(b *testing.B) {
	data := marshal(b, testRequest(2000, 10))
	var d Decoder
	var got ingesterpb.PushRequest
	require.NoError(b, d.Decode(data, &got))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(data, &got); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2000, "ns/series")
}

func sameMetadata(a, b ingesterpb.MetricMetadata) bool {
	return a.Type == b.Type && a.MetricFamilyName == b.MetricFamilyName && a.Help == b.Help && a.Unit == b.Unit
}

func discardUnknown(r *writev2.Request) {
	r.XXX_unrecognized = nil
	for i := range r.Timeseries {
		ts := &r.Timeseries[i]
		ts.XXX_unrecognized = nil
		ts.Metadata.XXX_unrecognized = nil
		for j := range ts.Samples {
			ts.Samples[j].XXX_unrecognized = nil
		}
		for j := range ts.Exemplars {
			ts.Exemplars[j].XXX_unrecognized = nil
		}
		for j := range ts.Histograms {
			h := &ts.Histograms[j]
			h.XXX_unrecognized = nil
			for k := range h.PositiveSpans {
				h.PositiveSpans[k].XXX_unrecognized = nil
			}
			for k := range h.NegativeSpans {
				h.NegativeSpans[k].XXX_unrecognized = nil
			}
		}
	}
}

package rw2

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/wire"
)

// Field numbers of io.prometheus.write.v2.
const (
	requestSymbols    = 4
	requestTimeseries = 5

	seriesLabelsRefs = 1
	seriesSamples    = 2
	seriesHistograms = 3
	seriesExemplars  = 4
	seriesMetadata   = 5

	exemplarLabelsRefs = 1
	exemplarValue      = 2
	exemplarTimestamp  = 3

	sampleValue     = 1
	sampleTimestamp = 2

	metadataType    = 1
	metadataHelpRef = 3
	metadataUnitRef = 4
)

// Decoder decodes requests, reusing its symbol table between calls. It is
// not safe for concurrent use; pool decoders.
type Decoder struct {
	// Limits bound the series and labels of a request; set them before
	// the first Decode.
	Limits ingesterpb.DecodeLimits

	symbols []string
	refs    []uint32
	labels  int // label pairs decoded so far, for Limits.MaxLabels
	// high ORs the bytes of every symbol (wire.OrBytes).
	high uint64
}

// ASCIILabels reports whether every symbol of the last request decoded
// is ASCII, and so every label name and value of its series: then
// validation may skip its UTF-8 checks (remotewrite.Request.ASCIILabels).
// Meaningful only after a Decode that returned no error.
func (d *Decoder) ASCIILabels() bool { return !wire.NotASCII(d.high) }

// maxKeptScratch is the most bytes of symbol and reference scratch a
// decoder keeps for reuse (see [Decoder.Reusable]).
const maxKeptScratch = 1 << 20

// Reusable reports whether the decoder's scratch buffers are small enough
// to go back to a pool: one huge request must not pin its memory.
func (d *Decoder) Reusable() bool {
	return cap(d.symbols)*int(unsafe.Sizeof(""))+cap(d.refs)*4 <= maxKeptScratch
}

// decodeError is a malformed request; it names where.
type decodeError struct {
	what   string // the message and field, e.g. "Sample.value"
	offset int
	series int // -1 outside a series
	err    error
}

func (e *decodeError) Error() string {
	if e.series >= 0 {
		return fmt.Sprintf("decoding remote-write 2.0 timeseries[%d], %s at offset %d: %v", e.series, e.what, e.offset, e.err)
	}
	return fmt.Sprintf("decoding remote-write 2.0 %s at offset %d: %v", e.what, e.offset, e.err)
}

func (e *decodeError) Unwrap() []error { return []error{remotewrite.ErrMalformed, e.err} }

// malformed turns err into a decodeError of series idx (-1 for none): a
// [*wire.Error] keeps its field and offset, anything else is put on field
// what at offset off. The label limit goes through as it is.
func malformed(err error, what string, off, idx int) error {
	if errors.Is(err, errLabelLimit) {
		return err
	}
	if we, ok := errors.AsType[*wire.Error](err); ok {
		return &decodeError{what: we.Field, offset: we.Offset, series: idx, err: we.Err}
	}
	return &decodeError{what: what, offset: off, series: idx, err: err}
}

// ErrRefOutOfRange is wrapped by errors for a symbol reference beyond the
// symbol table, or labels_refs of odd length.
var ErrRefOutOfRange = errors.New("symbol reference out of range")

var (
	errFirstSymbol = errors.New(`the first symbol must be ""`)
	// errNothingDecoded: a non-empty body without a symbol or a series,
	// only fields 2.0 does not have, e.g. a 1.0 body sent with the 2.0
	// content type.
	errNothingDecoded = errors.New("no symbols and no timeseries, only unknown fields: is this a remote-write 1.0 body (prometheus.WriteRequest) sent with the 2.0 content type (proto=io.prometheus.write.v2.Request)?")
)

// Decode decodes a remote-write 2.0 request from body into dst, replacing
// dst's contents and reusing its slices. dst's strings alias body: they are
// valid while body is unchanged. Errors wrap [remotewrite.ErrMalformed].
func (d *Decoder) Decode(body []byte, dst *ingesterpb.PushRequest) error {
	dst.Source = ingesterpb.Source_SOURCE_API
	d.labels = 0
	ts := dst.Timeseries[:0]
	md := dst.Metadata[:0]
	defer func() {
		dst.Timeseries, dst.Metadata = wire.NilIfEmpty(ts), wire.NilIfEmpty(md)
		clear(d.symbols) // do not pin the body while the decoder sits in a pool
	}()

	// Symbols may come after the series that use them: collect them
	// first, checking the request's own fields on the way.
	d.symbols = d.symbols[:0]
	d.high = 0
	first := len(body) // the first series' offset: where the second pass starts
	unknown, nSeries := 0, 0
	r := wire.NewReader(body, "Request")
	for r.Next() {
		switch r.Field() {
		case requestSymbols:
			// Each symbol's bytes are ORed once, however many labels
			// use it.
			b := r.Bytes("Request.symbols")
			d.high |= wire.OrBytes(b)
			d.symbols = append(d.symbols, wire.Alias(b))
		case requestTimeseries:
			nSeries++
			first = min(first, r.Offset())
			r.Bytes("Request.timeseries")
		default:
			unknown++
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return malformed(err, "", 0, -1)
	}
	if nSeries == 0 && len(d.symbols) == 0 && unknown > 0 {
		// Fields 1 and 3 are remote-write 1.0's timeseries and metadata:
		// decoded as 2.0, such a body is silently nothing at all.
		return &decodeError{what: "Request", offset: 0, series: -1, err: errNothingDecoded}
	}
	if len(d.symbols) > 0 && d.symbols[0] != "" {
		return &decodeError{what: "Request.symbols", offset: 0, series: -1, err: errFirstSymbol}
	}

	r = wire.NewReaderAt(body[first:], first, "Request")
	for r.Next() {
		if r.Field() != requestTimeseries {
			r.Skip()
			continue
		}
		sub := r.Message("Request.timeseries", "TimeSeries") // checked in the first pass
		if max := d.Limits.MaxSeries; max > 0 && len(ts) == max {
			series, _ := countRequest(body)
			return &ingesterpb.DecodeLimitError{What: "series", Actual: series, Limit: max}
		}
		ts = wire.Grow(ts)
		meta, err := d.series(&ts[len(ts)-1], sub, len(ts)-1)
		if errors.Is(err, ingesterpb.ErrDecodeLimit) {
			_, labels := countRequest(body)
			return &ingesterpb.DecodeLimitError{What: "labels", Actual: labels, Limit: d.Limits.MaxLabels}
		}
		if err != nil {
			return err
		}
		// A series without samples or histograms is refused by
		// validation (the spec requires one); its metadata goes with it,
		// as in Prometheus's receiver.
		if s := &ts[len(ts)-1]; meta.present && (meta.typ != 0 || meta.help != "" || meta.unit != "") &&
			(len(s.Samples) > 0 || len(s.Histograms) > 0) {
			md = d.appendMetadata(md, &ts[len(ts)-1], meta)
		}
	}
	return nil
}

type seriesMeta struct {
	present          bool
	typ              ingesterpb.MetricMetadata_MetricType
	help, unit       string
	helpRef, unitRef uint32
}

// appendMetadata adds the series' metadata under its metric name, unless
// the previous entry is identical (series of one family come together).
func (d *Decoder) appendMetadata(md []ingesterpb.MetricMetadata, ts *ingesterpb.TimeSeries, meta seriesMeta) []ingesterpb.MetricMetadata {
	name := ""
	for _, l := range ts.Labels {
		if l.Name == "__name__" {
			name = l.Value
			break
		}
	}
	if n := len(md); n > 0 {
		p := &md[n-1]
		if p.MetricFamilyName == name && p.Type == meta.typ && p.Help == meta.help && p.Unit == meta.unit {
			return md
		}
	}
	md = wire.Grow(md)
	md[len(md)-1] = ingesterpb.MetricMetadata{Type: meta.typ, MetricFamilyName: name, Help: meta.help, Unit: meta.unit}
	return md
}

// symbol resolves ref. Reference 0 is always "" (the spec requires the
// table to start with it), so a request without symbols may leave
// references unset.
func (d *Decoder) symbol(ref uint32) (string, bool) {
	if ref == 0 && len(d.symbols) == 0 {
		return "", true
	}
	if uint64(ref) >= uint64(len(d.symbols)) {
		return "", false
	}
	return d.symbols[ref], true
}

// series decodes the TimeSeries r reads, number idx of the request.
func (d *Decoder) series(ts *ingesterpb.TimeSeries, r wire.Reader, idx int) (seriesMeta, error) {
	ts.Labels = ts.Labels[:0]
	ts.Samples = ts.Samples[:0]
	ts.Exemplars = ts.Exemplars[:0]
	ts.Histograms = ts.Histograms[:0]
	var meta seriesMeta
	start := r.Offset()
	fail := func(what string, err error) (seriesMeta, error) {
		return meta, &decodeError{what: what, offset: start, series: idx, err: err}
	}
	d.refs = d.refs[:0]
	for r.Next() {
		var err error
		switch r.Field() {
		case seriesLabelsRefs:
			var ok bool
			if d.refs, ok = r.AppendUint32s(d.refs, "TimeSeries.labels_refs", d.maxRefs(0)); !ok {
				return meta, errLabelLimit
			}
		case seriesSamples:
			sub := r.Message("TimeSeries.samples", "Sample")
			ts.Samples = wire.Grow(ts.Samples)
			err = decodeSample(&ts.Samples[len(ts.Samples)-1], sub)
		case seriesHistograms:
			sub := r.Message("TimeSeries.histograms", "Histogram")
			ts.Histograms = wire.Grow(ts.Histograms)
			err = ts.Histograms[len(ts.Histograms)-1].UnmarshalZeroCopyFrom(sub)
		case seriesExemplars:
			sub := r.Message("TimeSeries.exemplars", "Exemplar")
			ts.Exemplars = wire.Grow(ts.Exemplars)
			err = d.exemplar(&ts.Exemplars[len(ts.Exemplars)-1], sub)
		case seriesMetadata:
			err = d.metadata(&meta, r.Message("TimeSeries.metadata", "Metadata"))
		default:
			r.Skip()
		}
		if err != nil {
			return meta, malformed(err, seriesFieldNames[r.Field()], r.Offset(), idx)
		}
	}
	if err := r.Err(); err != nil {
		return meta, malformed(err, "", 0, idx)
	}
	if len(d.refs)%2 != 0 {
		return fail("TimeSeries.labels_refs", fmt.Errorf("%w: odd length %d", ErrRefOutOfRange, len(d.refs)))
	}
	if !d.takeLabels(len(d.refs) / 2) {
		return meta, errLabelLimit
	}
	for j := 0; j < len(d.refs); j += 2 {
		name, ok := d.symbol(d.refs[j])
		if !ok {
			return fail("TimeSeries.labels_refs", fmt.Errorf("%w: labels_refs[%d] = %d, %d symbols", ErrRefOutOfRange, j, d.refs[j], len(d.symbols)))
		}
		value, ok := d.symbol(d.refs[j+1])
		if !ok {
			return fail("TimeSeries.labels_refs", fmt.Errorf("%w: labels_refs[%d] = %d, %d symbols", ErrRefOutOfRange, j+1, d.refs[j+1], len(d.symbols)))
		}
		ts.Labels = wire.Grow(ts.Labels)
		ts.Labels[len(ts.Labels)-1] = ingesterpb.LabelPair{Name: name, Value: value}
	}
	// Fields the series does not carry are nil, as in a fresh message:
	// nothing of the request decoded here before may show through.
	ts.Labels, ts.Samples = wire.NilIfEmpty(ts.Labels), wire.NilIfEmpty(ts.Samples)
	ts.Exemplars, ts.Histograms = wire.NilIfEmpty(ts.Exemplars), wire.NilIfEmpty(ts.Histograms)
	if meta.present {
		var ok bool
		if meta.help, ok = d.symbol(meta.helpRef); !ok {
			return fail("TimeSeries.metadata", fmt.Errorf("%w: help_ref = %d, %d symbols", ErrRefOutOfRange, meta.helpRef, len(d.symbols)))
		}
		if meta.unit, ok = d.symbol(meta.unitRef); !ok {
			return fail("TimeSeries.metadata", fmt.Errorf("%w: unit_ref = %d, %d symbols", ErrRefOutOfRange, meta.unitRef, len(d.symbols)))
		}
	}
	return meta, nil
}

var seriesFieldNames = [...]string{"TimeSeries", "TimeSeries.labels_refs", "TimeSeries.samples", "TimeSeries.histograms", "TimeSeries.exemplars", "TimeSeries.metadata"}

// errLabelLimit stops decoding at the series over Limits.MaxLabels; Decode
// turns it into a [*ingesterpb.DecodeLimitError] with the actual count.
var errLabelLimit = fmt.Errorf("label limit: %w", ingesterpb.ErrDecodeLimit)

// takeLabels counts n more label pairs; false when over Limits.MaxLabels.
func (d *Decoder) takeLabels(n int) bool {
	d.labels += n
	return d.Limits.MaxLabels <= 0 || d.labels <= d.Limits.MaxLabels
}

// countRequest counts a request's series and label pairs (exemplars'
// included) without decoding them, for a limit error's message; it stops
// at the first malformed field.
func countRequest(body []byte) (series, labels int) {
	r := wire.NewReader(body, "")
	for r.Next() {
		if r.Field() != requestTimeseries || r.Type() != wire.BytesType {
			r.Skip()
			continue
		}
		ts := r.Message("", "")
		if r.Err() != nil {
			break
		}
		series++
		n := 0
		for ts.Next() {
			switch {
			case ts.Field() == seriesLabelsRefs:
				n += countRefs(&ts)
			case ts.Field() == seriesExemplars && ts.Type() == wire.BytesType:
				for ex := ts.Message("", ""); ex.Next(); {
					if ex.Field() == exemplarLabelsRefs {
						n += countRefs(&ex)
					} else {
						ex.Skip()
					}
				}
			default:
				ts.Skip()
			}
		}
		labels += n / 2
	}
	return
}

// countRefs counts the references of a labels_refs field, one varint or a
// packed run (its complete varints), and moves past it.
func countRefs(r *wire.Reader) int {
	switch r.Type() {
	case wire.VarintType:
		r.Varint("")
		return 1
	case wire.BytesType:
		n := 0
		for _, b := range r.Bytes("") {
			if b < 0x80 {
				n++
			}
		}
		return n
	}
	r.Skip()
	return 0
}

func decodeSample(s *ingesterpb.Sample, r wire.Reader) error {
	*s = ingesterpb.Sample{}
	for r.Next() {
		switch r.Field() {
		case sampleValue:
			s.Value = r.Double("Sample.value")
		case sampleTimestamp:
			s.TimestampMs = int64(r.Varint("Sample.timestamp"))
		default:
			r.Skip()
		}
	}
	return r.Err()
}

func (d *Decoder) exemplar(e *ingesterpb.Exemplar, r wire.Reader) error {
	e.Labels = e.Labels[:0]
	e.Value, e.TimestampMs = 0, 0
	start := len(d.refs) // exemplar refs go after the series' own refs
	defer func() { d.refs = d.refs[:start] }()
	for r.Next() {
		switch r.Field() {
		case exemplarLabelsRefs:
			var ok bool
			if d.refs, ok = r.AppendUint32s(d.refs, "Exemplar.labels_refs", d.maxRefs(start)); !ok {
				return errLabelLimit
			}
		case exemplarValue:
			e.Value = r.Double("Exemplar.value")
		case exemplarTimestamp:
			e.TimestampMs = int64(r.Varint("Exemplar.timestamp"))
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	refs := d.refs[start:]
	if len(refs)%2 != 0 {
		return fmt.Errorf("%w: exemplar labels_refs of odd length %d", ErrRefOutOfRange, len(refs))
	}
	if !d.takeLabels(len(refs) / 2) {
		return errLabelLimit
	}
	for j := 0; j < len(refs); j += 2 {
		name, ok1 := d.symbol(refs[j])
		value, ok2 := d.symbol(refs[j+1])
		if !ok1 || !ok2 {
			return fmt.Errorf("%w: exemplar labels_refs[%d:%d] = %d, %d; %d symbols", ErrRefOutOfRange, j, j+2, refs[j], refs[j+1], len(d.symbols))
		}
		e.Labels = wire.Grow(e.Labels)
		e.Labels[len(e.Labels)-1] = ingesterpb.LabelPair{Name: name, Value: value}
	}
	e.Labels = wire.NilIfEmpty(e.Labels)
	return nil
}

func (d *Decoder) metadata(meta *seriesMeta, r wire.Reader) error {
	*meta = seriesMeta{present: true}
	for r.Next() {
		switch r.Field() {
		case metadataType:
			meta.typ = ingesterpb.MetricMetadata_MetricType(int32(r.Varint("Metadata.type")))
		case metadataHelpRef:
			meta.helpRef = uint32(r.Varint("Metadata.help_ref"))
		case metadataUnitRef:
			meta.unitRef = uint32(r.Varint("Metadata.unit_ref"))
		default:
			r.Skip()
		}
	}
	return r.Err()
}

// maxRefs is the length d.refs may reach, holding references from index
// start on, before the labels they make are over Limits.MaxLabels; 0 is
// unlimited.
func (d *Decoder) maxRefs(start int) int {
	if d.Limits.MaxLabels <= 0 {
		return 0
	}
	return start + 2*max(0, d.Limits.MaxLabels-d.labels) + 1
}

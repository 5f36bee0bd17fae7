package rw2

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
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
}

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
	what   string
	offset int
	series int // -1 outside a series
	err    error
}

func (e *decodeError) Error() string {
	if e.series >= 0 {
		return fmt.Sprintf("decoding remote-write 2.0 timeseries[%d].%s at offset %d: %v", e.series, e.what, e.offset, e.err)
	}
	return fmt.Sprintf("decoding remote-write 2.0 %s at offset %d: %v", e.what, e.offset, e.err)
}

func (e *decodeError) Unwrap() []error { return []error{remotewrite.ErrMalformed, e.err} }

// ErrRefOutOfRange is wrapped by errors for a symbol reference beyond the
// symbol table, or labels_refs of odd length.
var ErrRefOutOfRange = errors.New("symbol reference out of range")

var (
	errWireType    = errors.New("wrong wire type")
	errPacked      = errors.New("packed field length inconsistent with its elements")
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
		dst.Timeseries, dst.Metadata = nilIfEmpty(ts), nilIfEmpty(md)
		clear(d.symbols) // do not pin the body while the decoder sits in a pool
	}()

	// Symbols may come after the series that use them: collect them
	// first.
	d.symbols = d.symbols[:0]
	unknown, nSeries := 0, 0
	for i := 0; i < len(body); {
		num, typ, n := protowire.ConsumeTag(body[i:])
		if n < 0 {
			return &decodeError{what: "Request", offset: i, series: -1, err: protowire.ParseError(n)}
		}
		if num == requestSymbols {
			if typ != protowire.BytesType {
				return &decodeError{what: "Request.symbols", offset: i, series: -1, err: errWireType}
			}
			v, m := protowire.ConsumeBytes(body[i+n:])
			if m < 0 {
				return &decodeError{what: "Request.symbols", offset: i + n, series: -1, err: protowire.ParseError(m)}
			}
			d.symbols = append(d.symbols, yoloString(v))
			i += n + m
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, body[i+n:])
		if m < 0 {
			return &decodeError{what: "Request", offset: i + n, series: -1, err: protowire.ParseError(m)}
		}
		if num == requestTimeseries {
			nSeries++
		} else {
			unknown++
		}
		i += n + m
	}

	if nSeries == 0 && len(d.symbols) == 0 && unknown > 0 {
		// Fields 1 and 3 are remote-write 1.0's timeseries and metadata:
		// decoded as 2.0, such a body is silently nothing at all.
		return &decodeError{what: "Request", offset: 0, series: -1, err: errNothingDecoded}
	}
	if len(d.symbols) > 0 && d.symbols[0] != "" {
		return &decodeError{what: "Request.symbols", offset: 0, series: -1, err: errFirstSymbol}
	}

	for i := 0; i < len(body); {
		num, typ, n := protowire.ConsumeTag(body[i:])
		if num != requestTimeseries {
			i += n + protowire.ConsumeFieldValue(num, typ, body[i+n:]) // checked in the first pass
			continue
		}
		if typ != protowire.BytesType {
			return &decodeError{what: "Request.timeseries", offset: i, series: -1, err: errWireType}
		}
		v, m := protowire.ConsumeBytes(body[i+n:])
		if m < 0 {
			return &decodeError{what: "Request.timeseries", offset: i + n, series: -1, err: protowire.ParseError(m)}
		}
		if max := d.Limits.MaxSeries; max > 0 && len(ts) == max {
			series, _ := countRequest(body)
			return &ingesterpb.DecodeLimitError{What: "series", Actual: series, Limit: max}
		}
		ts = grow(ts)
		meta, err := d.series(&ts[len(ts)-1], v, i+n+(m-len(v)), len(ts)-1)
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
		i += n + m
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
	md = grow(md)
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

// series decodes one TimeSeries at body offset base.
func (d *Decoder) series(ts *ingesterpb.TimeSeries, data []byte, base, idx int) (seriesMeta, error) {
	ts.Labels = ts.Labels[:0]
	ts.Samples = ts.Samples[:0]
	ts.Exemplars = ts.Exemplars[:0]
	ts.Histograms = ts.Histograms[:0]
	var meta seriesMeta
	fail := func(what string, off int, err error) (seriesMeta, error) {
		return meta, &decodeError{what: what, offset: base + off, series: idx, err: err}
	}
	d.refs = d.refs[:0]
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return fail("TimeSeries", i, protowire.ParseError(n))
		}
		switch num {
		case seriesLabelsRefs:
			var m int
			var err error
			d.refs, m, err = appendUint32s(d.refs, typ, data[i+n:], d.maxRefs(0))
			if errors.Is(err, errLabelLimit) {
				return meta, err
			}
			if err != nil {
				return fail("labels_refs", i+n, err)
			}
			i += n + m
			continue
		case seriesSamples, seriesHistograms, seriesExemplars, seriesMetadata:
			if typ != protowire.BytesType {
				return fail(seriesFieldNames[num], i, errWireType)
			}
			v, m := protowire.ConsumeBytes(data[i+n:])
			if m < 0 {
				return fail(seriesFieldNames[num], i+n, protowire.ParseError(m))
			}
			off := i + n + m - len(v)
			var err error
			switch num {
			case seriesSamples:
				ts.Samples = grow(ts.Samples)
				err = decodeSample(&ts.Samples[len(ts.Samples)-1], v)
			case seriesHistograms:
				ts.Histograms = grow(ts.Histograms)
				err = ts.Histograms[len(ts.Histograms)-1].UnmarshalZeroCopy(v)
			case seriesExemplars:
				ts.Exemplars = grow(ts.Exemplars)
				err = d.exemplar(&ts.Exemplars[len(ts.Exemplars)-1], v)
			case seriesMetadata:
				err = d.metadata(&meta, v)
			}
			if err != nil {
				return fail(seriesFieldNames[num], off, err)
			}
			i += n + m
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data[i+n:])
		if m < 0 {
			return fail("TimeSeries", i+n, protowire.ParseError(m))
		}
		i += n + m
	}
	if len(d.refs)%2 != 0 {
		return fail("labels_refs", 0, fmt.Errorf("%w: odd length %d", ErrRefOutOfRange, len(d.refs)))
	}
	if !d.takeLabels(len(d.refs) / 2) {
		return meta, errLabelLimit
	}
	for j := 0; j < len(d.refs); j += 2 {
		name, ok := d.symbol(d.refs[j])
		if !ok {
			return fail("labels_refs", 0, fmt.Errorf("%w: labels_refs[%d] = %d, %d symbols", ErrRefOutOfRange, j, d.refs[j], len(d.symbols)))
		}
		value, ok := d.symbol(d.refs[j+1])
		if !ok {
			return fail("labels_refs", 0, fmt.Errorf("%w: labels_refs[%d] = %d, %d symbols", ErrRefOutOfRange, j+1, d.refs[j+1], len(d.symbols)))
		}
		ts.Labels = grow(ts.Labels)
		ts.Labels[len(ts.Labels)-1] = ingesterpb.LabelPair{Name: name, Value: value}
	}
	// Fields the series does not carry are nil, as in a fresh message:
	// nothing of the request decoded here before may show through.
	ts.Labels, ts.Samples = nilIfEmpty(ts.Labels), nilIfEmpty(ts.Samples)
	ts.Exemplars, ts.Histograms = nilIfEmpty(ts.Exemplars), nilIfEmpty(ts.Histograms)
	if meta.present {
		var ok bool
		if meta.help, ok = d.symbol(meta.helpRef); !ok {
			return fail("metadata", 0, fmt.Errorf("%w: help_ref = %d, %d symbols", ErrRefOutOfRange, meta.helpRef, len(d.symbols)))
		}
		if meta.unit, ok = d.symbol(meta.unitRef); !ok {
			return fail("metadata", 0, fmt.Errorf("%w: unit_ref = %d, %d symbols", ErrRefOutOfRange, meta.unitRef, len(d.symbols)))
		}
	}
	return meta, nil
}

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
	refs := func(data []byte, field protowire.Number) int {
		n := 0
		for len(data) > 0 {
			num, typ, k := protowire.ConsumeTag(data)
			if k < 0 {
				return n
			}
			data = data[k:]
			if num == field && typ == protowire.BytesType {
				v, m := protowire.ConsumeBytes(data)
				if m < 0 {
					return n
				}
				for len(v) > 0 {
					_, c := protowire.ConsumeVarint(v)
					if c < 0 {
						break
					}
					n++
					v = v[c:]
				}
				data = data[m:]
				continue
			}
			if num == field && typ == protowire.VarintType {
				n++
			}
			m := protowire.ConsumeFieldValue(num, typ, data)
			if m < 0 {
				return n
			}
			data = data[m:]
		}
		return n
	}
	for data := body; len(data) > 0; {
		num, typ, k := protowire.ConsumeTag(data)
		if k < 0 {
			return
		}
		data = data[k:]
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return
		}
		if num == requestTimeseries && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(data)
			series++
			n := refs(v, seriesLabelsRefs)
			for ex := v; len(ex) > 0; {
				num, typ, k := protowire.ConsumeTag(ex)
				if k < 0 {
					break
				}
				ex = ex[k:]
				c := protowire.ConsumeFieldValue(num, typ, ex)
				if c < 0 {
					break
				}
				if num == seriesExemplars && typ == protowire.BytesType {
					e, _ := protowire.ConsumeBytes(ex)
					n += refs(e, exemplarLabelsRefs)
				}
				ex = ex[c:]
			}
			labels += n / 2
		}
		data = data[m:]
	}
	return
}

var seriesFieldNames = [...]string{"", "labels_refs", "samples", "histograms", "exemplars", "metadata"}

func decodeSample(s *ingesterpb.Sample, data []byte) error {
	*s = ingesterpb.Sample{}
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		i += n
		switch {
		case num == sampleValue && typ == protowire.Fixed64Type:
			v, m := protowire.ConsumeFixed64(data[i:])
			if m < 0 {
				return protowire.ParseError(m)
			}
			s.Value = math.Float64frombits(v)
			i += m
		case num == sampleTimestamp && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(data[i:])
			if m < 0 {
				return protowire.ParseError(m)
			}
			s.TimestampMs = int64(v)
			i += m
		case num == sampleValue || num == sampleTimestamp:
			return errWireType
		default:
			m := protowire.ConsumeFieldValue(num, typ, data[i:])
			if m < 0 {
				return protowire.ParseError(m)
			}
			i += m
		}
	}
	return nil
}

func (d *Decoder) exemplar(e *ingesterpb.Exemplar, data []byte) error {
	e.Labels = e.Labels[:0]
	e.Value, e.TimestampMs = 0, 0
	start := len(d.refs) // exemplar refs go after the series' own refs
	defer func() { d.refs = d.refs[:start] }()
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		i += n
		var m int
		switch {
		case num == exemplarLabelsRefs:
			var err error
			d.refs, m, err = appendUint32s(d.refs, typ, data[i:], d.maxRefs(start))
			if err != nil {
				return err
			}
		case num == exemplarValue && typ == protowire.Fixed64Type:
			var v uint64
			v, m = protowire.ConsumeFixed64(data[i:])
			e.Value = math.Float64frombits(v)
		case num == exemplarTimestamp && typ == protowire.VarintType:
			var v uint64
			v, m = protowire.ConsumeVarint(data[i:])
			e.TimestampMs = int64(v)
		case num == exemplarValue || num == exemplarTimestamp:
			return errWireType
		default:
			m = protowire.ConsumeFieldValue(num, typ, data[i:])
		}
		if m < 0 {
			return protowire.ParseError(m)
		}
		i += m
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
		e.Labels = grow(e.Labels)
		e.Labels[len(e.Labels)-1] = ingesterpb.LabelPair{Name: name, Value: value}
	}
	e.Labels = nilIfEmpty(e.Labels)
	return nil
}

func (d *Decoder) metadata(meta *seriesMeta, data []byte) error {
	*meta = seriesMeta{present: true}
	for i := 0; i < len(data); {
		num, typ, n := protowire.ConsumeTag(data[i:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		i += n
		var m int
		switch {
		case (num == metadataType || num == metadataHelpRef || num == metadataUnitRef) && typ == protowire.VarintType:
			var v uint64
			v, m = protowire.ConsumeVarint(data[i:])
			switch num {
			case metadataType:
				meta.typ = ingesterpb.MetricMetadata_MetricType(int32(v))
			case metadataHelpRef:
				meta.helpRef = uint32(v)
			default:
				meta.unitRef = uint32(v)
			}
		case num == metadataType || num == metadataHelpRef || num == metadataUnitRef:
			return errWireType
		default:
			m = protowire.ConsumeFieldValue(num, typ, data[i:])
		}
		if m < 0 {
			return protowire.ParseError(m)
		}
		i += m
	}
	return nil
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

// appendUint32s appends one varint (wire type 0) or a packed run of them
// (wire type 2) to dst and returns how many bytes it consumed. Past max
// elements (when max > 0) it stops with errLabelLimit.
func appendUint32s(dst []uint32, typ protowire.Type, data []byte, max int) ([]uint32, int, error) {
	switch typ {
	case protowire.VarintType:
		v, m := protowire.ConsumeVarint(data)
		if m < 0 {
			return dst, 0, protowire.ParseError(m)
		}
		if max > 0 && len(dst) >= max {
			return dst, 0, errLabelLimit
		}
		return append(dst, uint32(v)), m, nil
	case protowire.BytesType:
		v, m := protowire.ConsumeBytes(data)
		if m < 0 {
			return dst, 0, protowire.ParseError(m)
		}
		for len(v) > 0 {
			x, k := protowire.ConsumeVarint(v)
			if k < 0 {
				return dst, 0, errPacked
			}
			if max > 0 && len(dst) >= max {
				return dst, 0, errLabelLimit
			}
			dst = append(dst, uint32(x))
			v = v[k:]
		}
		return dst, m, nil
	}
	return dst, 0, errWireType
}

// nilIfEmpty returns nil for an empty s (dropping its capacity), so a
// reused slice that decoded nothing reads like a fresh message's.
func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// grow extends s by one element, reusing the spare capacity's element.
func grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

func yoloString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

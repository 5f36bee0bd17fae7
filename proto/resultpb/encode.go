package resultpb

import (
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"google.golang.org/protobuf/encoding/protowire"
)

// ContentType is the media type of the format: a frontend asks for it in
// Accept, a querier answers it in Content-Type.
const ContentType = "application/vnd.hearth.query-result.v1+protobuf"

// Result types, as Prometheus names them.
const (
	TypeMatrix = "matrix"
	TypeVector = "vector"
	TypeScalar = "scalar"
	TypeString = "string"
)

// Field numbers of Result.
const (
	fieldResultType = 1
	fieldSeries     = 2
	fieldT          = 3
	fieldV          = 4
	fieldS          = 5
	fieldWarnings   = 6
	fieldInfos      = 7
)

// Field numbers of Series, Histogram and Bucket.
const (
	seriesLabels     = 1
	seriesT          = 2
	seriesV          = 3
	seriesHistograms = 4

	histT       = 1
	histCount   = 2
	histSum     = 3
	histBuckets = 4

	bucketBoundaries = 1
	bucketLower      = 2
	bucketUpper      = 3
	bucketCount      = 4
)

// CanEncode reports whether [Append] encodes v.
func CanEncode(v parser.Value) bool {
	switch v.(type) {
	case promql.Matrix, promql.Vector, promql.Scalar, promql.String:
		return true
	}
	return false
}

// encoder holds the scratch buffers of one [Append]: a nested message is
// built in one and appended after its length.
type encoder struct {
	series, packed, hist, bucket []byte
}

// Append appends the encoding of the query result v and its annotations to
// dst and returns the result. v is a promql.Matrix, Vector, Scalar or
// String.
func Append(dst []byte, v parser.Value, warnings, infos []string) ([]byte, error) {
	var e encoder
	switch v := v.(type) {
	case promql.Matrix:
		dst = appendString(dst, fieldResultType, TypeMatrix)
		for i := range v {
			s := &v[i]
			e.series = e.appendSeries(e.series[:0], s.Metric, s.Floats, s.Histograms)
			dst = appendBytes(dst, fieldSeries, e.series)
		}
	case promql.Vector:
		dst = appendString(dst, fieldResultType, TypeVector)
		for i := range v {
			s := &v[i]
			if s.H != nil {
				e.series = e.appendSeries(e.series[:0], s.Metric, nil, []promql.HPoint{{T: s.T, H: s.H}})
			} else {
				e.series = e.appendSeries(e.series[:0], s.Metric, []promql.FPoint{{T: s.T, F: s.F}}, nil)
			}
			dst = appendBytes(dst, fieldSeries, e.series)
		}
	case promql.Scalar:
		dst = appendString(dst, fieldResultType, TypeScalar)
		dst = appendSint64(dst, fieldT, v.T)
		dst = appendDouble(dst, fieldV, v.V)
	case promql.String:
		dst = appendString(dst, fieldResultType, TypeString)
		dst = appendSint64(dst, fieldT, v.T)
		dst = appendString(dst, fieldS, v.V)
	default:
		return nil, fmt.Errorf("encoding a query result: unsupported type %T", v)
	}
	for _, w := range warnings {
		dst = appendString(dst, fieldWarnings, w)
	}
	for _, i := range infos {
		dst = appendString(dst, fieldInfos, i)
	}
	return dst, nil
}

func (e *encoder) appendSeries(dst []byte, metric labels.Labels, floats []promql.FPoint, hs []promql.HPoint) []byte {
	metric.Range(func(l labels.Label) {
		dst = appendString(dst, seriesLabels, l.Name)
		dst = appendString(dst, seriesLabels, l.Value)
	})
	if len(floats) > 0 {
		e.packed = e.packed[:0]
		prev := int64(0)
		for _, p := range floats {
			e.packed = protowire.AppendVarint(e.packed, protowire.EncodeZigZag(p.T-prev))
			prev = p.T
		}
		dst = appendBytes(dst, seriesT, e.packed)
		dst = protowire.AppendTag(dst, seriesV, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(8*len(floats)))
		for _, p := range floats {
			dst = protowire.AppendFixed64(dst, math.Float64bits(p.F))
		}
	}
	for _, p := range hs {
		e.hist = e.appendHistogram(e.hist[:0], p.T, p.H)
		dst = appendBytes(dst, seriesHistograms, e.hist)
	}
	return dst
}

// appendHistogram writes what Prometheus's JSON writes of h
// (jsonutil.MarshalHistogram): count, sum and the buckets of count above 0.
func (e *encoder) appendHistogram(dst []byte, t int64, h *histogram.FloatHistogram) []byte {
	dst = appendSint64(dst, histT, t)
	dst = appendDouble(dst, histCount, h.Count)
	dst = appendDouble(dst, histSum, h.Sum)
	it := h.AllBucketIterator()
	for it.Next() {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		e.bucket = protowire.AppendTag(e.bucket[:0], bucketBoundaries, protowire.VarintType)
		e.bucket = protowire.AppendVarint(e.bucket, uint64(Boundaries(b)))
		e.bucket = appendDouble(e.bucket, bucketLower, b.Lower)
		e.bucket = appendDouble(e.bucket, bucketUpper, b.Upper)
		e.bucket = appendDouble(e.bucket, bucketCount, b.Count)
		dst = appendBytes(dst, histBuckets, e.bucket)
	}
	return dst
}

// Boundaries is the code Prometheus's API gives a histogram bucket's
// bounds (model.HistogramBucket.Boundaries): 0 open left and closed right,
// 1 closed left and open right, 2 open on both sides, 3 closed on both.
func Boundaries(b histogram.Bucket[float64]) int32 {
	switch {
	case b.LowerInclusive && b.UpperInclusive:
		return 3
	case b.LowerInclusive:
		return 1
	case b.UpperInclusive:
		return 0
	}
	return 2
}

func appendString(dst []byte, field protowire.Number, s string) []byte {
	dst = protowire.AppendTag(dst, field, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendBytes(dst []byte, field protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, field, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
}

func appendSint64(dst []byte, field protowire.Number, v int64) []byte {
	dst = protowire.AppendTag(dst, field, protowire.VarintType)
	return protowire.AppendVarint(dst, protowire.EncodeZigZag(v))
}

// appendDouble writes v even when it is 0: -0 must survive.
func appendDouble(dst []byte, field protowire.Number, v float64) []byte {
	dst = protowire.AppendTag(dst, field, protowire.Fixed64Type)
	return protowire.AppendFixed64(dst, math.Float64bits(v))
}

// AppendMatrix appends a Result of type matrix holding ss, in the model
// types [Decode] gives, and infos to dst and returns the result: a query
// frontend stores the extents of its results cache in the form queriers
// send them. Histograms go as they are, buckets included.
func AppendMatrix(dst []byte, ss []*model.SampleStream, infos []string) []byte {
	var (
		e     encoder
		names []string
	)
	dst = appendString(dst, fieldResultType, TypeMatrix)
	for _, s := range ss {
		b := e.series[:0]
		names = names[:0]
		for n := range s.Metric {
			names = append(names, string(n))
		}
		slices.Sort(names)
		for _, n := range names {
			b = appendString(b, seriesLabels, n)
			b = appendString(b, seriesLabels, string(s.Metric[model.LabelName(n)]))
		}
		if len(s.Values) > 0 {
			e.packed = e.packed[:0]
			prev := int64(0)
			for _, p := range s.Values {
				e.packed = protowire.AppendVarint(e.packed, protowire.EncodeZigZag(int64(p.Timestamp)-prev))
				prev = int64(p.Timestamp)
			}
			b = appendBytes(b, seriesT, e.packed)
			b = protowire.AppendTag(b, seriesV, protowire.BytesType)
			b = protowire.AppendVarint(b, uint64(8*len(s.Values)))
			for _, p := range s.Values {
				b = protowire.AppendFixed64(b, math.Float64bits(float64(p.Value)))
			}
		}
		for _, p := range s.Histograms {
			e.hist = e.appendModelHistogram(e.hist[:0], p)
			b = appendBytes(b, seriesHistograms, e.hist)
		}
		e.series = b
		dst = appendBytes(dst, fieldSeries, b)
	}
	for _, i := range infos {
		dst = appendString(dst, fieldInfos, i)
	}
	return dst
}

func (e *encoder) appendModelHistogram(dst []byte, p model.SampleHistogramPair) []byte {
	dst = appendSint64(dst, histT, int64(p.Timestamp))
	if p.Histogram == nil {
		return dst
	}
	dst = appendDouble(dst, histCount, float64(p.Histogram.Count))
	dst = appendDouble(dst, histSum, float64(p.Histogram.Sum))
	for _, b := range p.Histogram.Buckets {
		e.bucket = protowire.AppendTag(e.bucket[:0], bucketBoundaries, protowire.VarintType)
		e.bucket = protowire.AppendVarint(e.bucket, uint64(b.Boundaries))
		e.bucket = appendDouble(e.bucket, bucketLower, float64(b.Lower))
		e.bucket = appendDouble(e.bucket, bucketUpper, float64(b.Upper))
		e.bucket = appendDouble(e.bucket, bucketCount, float64(b.Count))
		dst = appendBytes(dst, histBuckets, e.bucket)
	}
	return dst
}

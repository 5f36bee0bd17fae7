package resultpb

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/hearthmetrics/hearth/proto/wire"
)

// Result is a decoded query result, in the types the frontend's JSON
// decoding of Prometheus's API gives: exactly the values, nil and empty
// slices and maps alike.
type Result struct {
	// ResultType is matrix, vector, scalar or string.
	ResultType string
	// Matrix is not nil for a matrix, Vector for a vector.
	Matrix   []*model.SampleStream
	Vector   model.Vector
	Scalar   *model.Scalar
	String   *model.String
	Warnings []string
	Infos    []string
}

// Decode decodes a result. Nothing of the result aliases data. It never
// panics: a malformed input is an error.
func Decode(data []byte) (*Result, error) {
	d := decoder{strs: map[string]string{}}
	res, err := d.result(data)
	if err != nil {
		return nil, fmt.Errorf("decoding a query result: %w", err)
	}
	return res, nil
}

// decoder interns strings: label names and values repeat across series.
type decoder struct {
	strs map[string]string
	ts   []int64
	vs   []float64
}

func (d *decoder) intern(s string) string {
	if c, ok := d.strs[s]; ok {
		return c
	}
	c := text(s)
	d.strs[c] = c
	return c
}

// text copies s, each byte of an invalid UTF-8 sequence replaced by U+FFFD
// as a JSON encoder does: the frontend then holds what it would have read
// from the JSON.
func text(s string) string {
	if utf8.ValidString(s) {
		return strings.Clone(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteString("\uFFFD")
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func (d *decoder) result(data []byte) (*Result, error) {
	res := &Result{}
	var (
		series           []wire.Reader
		t                int64
		v                float64
		s                string
		hasT, hasV, hasS bool
	)
	r := wire.NewReader(data, "Result")
	for r.Next() {
		switch r.Field() {
		case fieldResultType:
			res.ResultType = r.String("Result.result_type")
		case fieldSeries:
			series = append(series, r.Message("Result.series", "Series"))
		case fieldT:
			t, hasT = r.Sint64("Result.t"), true
		case fieldV:
			v, hasV = r.Double("Result.v"), true
		case fieldS:
			s, hasS = text(r.String("Result.s")), true
		case fieldWarnings:
			res.Warnings = append(res.Warnings, text(r.String("Result.warnings")))
		case fieldInfos:
			res.Infos = append(res.Infos, text(r.String("Result.infos")))
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	res.ResultType = text(res.ResultType)
	switch res.ResultType {
	case TypeMatrix:
		if hasT || hasV || hasS {
			return nil, errors.New("a matrix with a scalar's or string's fields")
		}
		res.Matrix = make([]*model.SampleStream, len(series))
		for i := range series {
			ss, err := d.series(&series[i])
			if err != nil {
				return nil, fmt.Errorf("series %d: %w", i, err)
			}
			res.Matrix[i] = ss
		}
	case TypeVector:
		if hasT || hasV || hasS {
			return nil, errors.New("a vector with a scalar's or string's fields")
		}
		res.Vector = make(model.Vector, len(series))
		for i := range series {
			ss, err := d.series(&series[i])
			if err != nil {
				return nil, fmt.Errorf("sample %d: %w", i, err)
			}
			smp := &model.Sample{Metric: ss.Metric}
			switch {
			case len(ss.Values) == 1 && len(ss.Histograms) == 0:
				smp.Timestamp, smp.Value = ss.Values[0].Timestamp, ss.Values[0].Value
			case len(ss.Values) == 0 && len(ss.Histograms) == 1:
				smp.Timestamp, smp.Histogram = ss.Histograms[0].Timestamp, ss.Histograms[0].Histogram
			default:
				return nil, fmt.Errorf("sample %d has %d values and %d histograms, not one", i, len(ss.Values), len(ss.Histograms))
			}
			res.Vector[i] = smp
		}
	case TypeScalar:
		if len(series) > 0 || hasS {
			return nil, errors.New("a scalar with series or a string")
		}
		res.Scalar = &model.Scalar{Timestamp: model.Time(t), Value: model.SampleValue(v)}
	case TypeString:
		if len(series) > 0 || hasV {
			return nil, errors.New("a string with series or a value")
		}
		res.String = &model.String{Timestamp: model.Time(t), Value: s}
	default:
		return nil, fmt.Errorf("unknown result type %.40q", res.ResultType)
	}
	return res, nil
}

func (d *decoder) series(r *wire.Reader) (*model.SampleStream, error) {
	ss := &model.SampleStream{Metric: model.Metric{}}
	var (
		name    string
		hasName bool
	)
	d.ts, d.vs = d.ts[:0], d.vs[:0]
	for r.Next() {
		switch r.Field() {
		case seriesLabels:
			s := r.String("Series.labels")
			if !hasName {
				name, hasName = s, true
				continue
			}
			ss.Metric[model.LabelName(d.intern(name))] = model.LabelValue(d.intern(s))
			hasName = false
		case seriesT:
			d.ts = r.AppendSint64s(d.ts, "Series.t")
		case seriesV:
			d.vs = r.AppendDoubles(d.vs, "Series.v")
		case seriesHistograms:
			sub := r.Message("Series.histograms", "Histogram")
			h, err := histogramOf(&sub)
			if err != nil {
				return nil, err
			}
			ss.Histograms = append(ss.Histograms, h)
		default:
			r.Skip()
		}
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	if hasName {
		return nil, fmt.Errorf("label %.100q without a value", name)
	}
	if len(d.ts) != len(d.vs) {
		return nil, fmt.Errorf("%d timestamps for %d values", len(d.ts), len(d.vs))
	}
	if len(d.ts) > 0 {
		ss.Values = make([]model.SamplePair, len(d.ts))
		t := int64(0)
		for i, dt := range d.ts {
			t += dt
			ss.Values[i] = model.SamplePair{Timestamp: model.Time(t), Value: model.SampleValue(d.vs[i])}
		}
	}
	return ss, nil
}

func histogramOf(r *wire.Reader) (model.SampleHistogramPair, error) {
	p := model.SampleHistogramPair{Histogram: &model.SampleHistogram{}}
	for r.Next() {
		switch r.Field() {
		case histT:
			p.Timestamp = model.Time(r.Sint64("Histogram.t"))
		case histCount:
			p.Histogram.Count = model.FloatString(r.Double("Histogram.count"))
		case histSum:
			p.Histogram.Sum = model.FloatString(r.Double("Histogram.sum"))
		case histBuckets:
			sub := r.Message("Histogram.buckets", "Bucket")
			b := &model.HistogramBucket{}
			for sub.Next() {
				switch sub.Field() {
				case bucketBoundaries:
					b.Boundaries = int32(sub.Varint("Bucket.boundaries"))
				case bucketLower:
					b.Lower = model.FloatString(sub.Double("Bucket.lower"))
				case bucketUpper:
					b.Upper = model.FloatString(sub.Double("Bucket.upper"))
				case bucketCount:
					b.Count = model.FloatString(sub.Double("Bucket.count"))
				default:
					sub.Skip()
				}
			}
			if err := sub.Err(); err != nil {
				return p, err
			}
			p.Histogram.Buckets = append(p.Histogram.Buckets, b)
		default:
			r.Skip()
		}
	}
	return p, r.Err()
}

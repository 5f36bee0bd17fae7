package queryrange

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/common/model"
)

// encode writes r as Prometheus's API writes it, byte for byte
// (web/api/v1's JSON codec): appended by hand, as Prometheus's jsoniter
// encoders do, not through encoding/json and the model types' MarshalJSON
// (a string conversion and a reflection walk per sample).
func (r *Response) encode() ([]byte, error) {
	e := jsonEncoder{buf: make([]byte, 0, r.sizeHint())}
	e.buf = append(e.buf, `{"status":"success","data":{"resultType":"`...)
	e.buf = append(e.buf, r.ResultType...)
	e.buf = append(e.buf, `","result":`...)
	switch r.ResultType {
	case typeMatrix:
		e.buf = append(e.buf, '[')
		for i, s := range r.Matrix {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.series(s)
		}
		e.buf = append(e.buf, ']')
	case typeVector:
		e.buf = append(e.buf, '[')
		for i, s := range r.Vector {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.sample(s)
		}
		e.buf = append(e.buf, ']')
	case typeScalar, typeString:
		// Prometheus writes these two with encoding/json: the timestamp
		// as a float64 in seconds.
		var pair [2]any
		if r.ResultType == typeScalar {
			if r.Scalar == nil {
				return nil, fmt.Errorf("encoding a response: a scalar without a value")
			}
			pair = [2]any{float64(r.Scalar.Timestamp) / 1000, strconv.FormatFloat(float64(r.Scalar.Value), 'f', -1, 64)}
		} else {
			if r.String == nil {
				return nil, fmt.Errorf("encoding a response: a string without a value")
			}
			pair = [2]any{float64(r.String.Timestamp) / 1000, r.String.Value}
		}
		b, err := json.Marshal(pair)
		if err != nil {
			return nil, fmt.Errorf("encoding a %s result: %w", r.ResultType, err)
		}
		e.buf = append(e.buf, b...)
	default:
		return nil, fmt.Errorf("encoding a response: unknown result type %q", r.ResultType)
	}
	e.buf = append(e.buf, '}')
	e.annotations("warnings", r.Warnings)
	e.annotations("infos", r.Infos)
	e.buf = append(e.buf, '}')
	return e.buf, nil
}

// sizeHint guesses the encoded size: ~30 bytes a float sample.
func (r *Response) sizeHint() int {
	n := 256
	for _, s := range r.Matrix {
		n += 64*len(s.Metric) + 30*len(s.Values) + 200*len(s.Histograms)
	}
	n += len(r.Vector) * 200
	return n
}

type jsonEncoder struct {
	buf   []byte
	names []string
}

func (e *jsonEncoder) annotations(key string, as []string) {
	if len(as) == 0 {
		return
	}
	e.buf = append(e.buf, `,"`...)
	e.buf = append(e.buf, key...)
	e.buf = append(e.buf, `":[`...)
	for i, a := range as {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendHTMLSafeString(e.buf, a)
	}
	e.buf = append(e.buf, ']')
}

// metric writes a label set sorted by name, as Prometheus writes its
// labels.
func (e *jsonEncoder) metric(m model.Metric) {
	e.names = e.names[:0]
	for n := range m {
		e.names = append(e.names, string(n))
	}
	slices.Sort(e.names)
	e.buf = append(e.buf, '{')
	for i, n := range e.names {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.buf = appendLabelString(e.buf, n)
		e.buf = append(e.buf, ':')
		e.buf = appendLabelString(e.buf, string(m[model.LabelName(n)]))
	}
	e.buf = append(e.buf, '}')
}

func (e *jsonEncoder) series(s *model.SampleStream) {
	e.buf = append(e.buf, `{"metric":`...)
	e.metric(s.Metric)
	if len(s.Values) > 0 {
		e.buf = append(e.buf, `,"values":[`...)
		for i, p := range s.Values {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, '[')
			e.buf = appendTimestamp(e.buf, int64(p.Timestamp))
			e.buf = append(e.buf, ',')
			e.buf = appendFloat(e.buf, float64(p.Value))
			e.buf = append(e.buf, ']')
		}
		e.buf = append(e.buf, ']')
	}
	if len(s.Histograms) > 0 {
		e.buf = append(e.buf, `,"histograms":[`...)
		for i, p := range s.Histograms {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, '[')
			e.buf = appendTimestamp(e.buf, int64(p.Timestamp))
			e.buf = append(e.buf, ',')
			e.histogram(p.Histogram)
			e.buf = append(e.buf, ']')
		}
		e.buf = append(e.buf, ']')
	}
	e.buf = append(e.buf, '}')
}

func (e *jsonEncoder) sample(s *model.Sample) {
	e.buf = append(e.buf, `{"metric":`...)
	e.metric(s.Metric)
	if s.Histogram == nil {
		e.buf = append(e.buf, `,"value":[`...)
	} else {
		e.buf = append(e.buf, `,"histogram":[`...)
	}
	e.buf = appendTimestamp(e.buf, int64(s.Timestamp))
	e.buf = append(e.buf, ',')
	if s.Histogram == nil {
		e.buf = appendFloat(e.buf, float64(s.Value))
	} else {
		e.histogram(s.Histogram)
	}
	e.buf = append(e.buf, "]}"...)
}

// histogram writes what Prometheus's jsonutil.MarshalHistogram writes.
func (e *jsonEncoder) histogram(h *model.SampleHistogram) {
	if h == nil {
		e.buf = append(e.buf, "null"...)
		return
	}
	e.buf = append(e.buf, `{"count":`...)
	e.buf = appendFloat(e.buf, float64(h.Count))
	e.buf = append(e.buf, `,"sum":`...)
	e.buf = appendFloat(e.buf, float64(h.Sum))
	if len(h.Buckets) > 0 {
		e.buf = append(e.buf, `,"buckets":[`...)
		for i, b := range h.Buckets {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.buf = append(e.buf, '[')
			e.buf = strconv.AppendInt(e.buf, int64(b.Boundaries), 10)
			e.buf = append(e.buf, ',')
			e.buf = appendFloat(e.buf, float64(b.Lower))
			e.buf = append(e.buf, ',')
			e.buf = appendFloat(e.buf, float64(b.Upper))
			e.buf = append(e.buf, ',')
			e.buf = appendFloat(e.buf, float64(b.Count))
			e.buf = append(e.buf, ']')
		}
		e.buf = append(e.buf, ']')
	}
	e.buf = append(e.buf, '}')
}

// appendTimestamp writes milliseconds as seconds with up to three
// decimals, as Prometheus's jsonutil.MarshalTimestamp.
func appendTimestamp(b []byte, t int64) []byte {
	if t < 0 {
		b = append(b, '-')
		t = -t
	}
	b = strconv.AppendInt(b, t/1000, 10)
	if frac := t % 1000; frac != 0 {
		b = append(b, '.')
		if frac < 100 {
			b = append(b, '0')
		}
		if frac < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, frac, 10)
	}
	return b
}

// appendFloat writes a quoted value as Prometheus's jsonutil.MarshalFloat:
// exponent form below 1e-6 and from 1e21, NaN, +Inf and -Inf as words.
func appendFloat(b []byte, f float64) []byte {
	b = append(b, '"')
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendLabelString quotes s as Prometheus writes label names and values
// (jsoniter's Stream.WriteString): only '"', '\\' and control characters
// escaped, everything else as it is.
func appendLabelString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = appendEscape(b, c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '\\', '"':
		return append(b, '\\', c)
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
}

// appendHTMLSafeString quotes s as encoding/json does (and Prometheus for
// warnings and infos): also '<', '>' and '&' escaped, U+2028 and U+2029
// escaped, each byte of invalid UTF-8 as U+FFFD.
func appendHTMLSafeString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

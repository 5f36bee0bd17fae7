package otlp

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
)

// The OpenTelemetry Collector's pdata decodes nested attribute values
// (AnyValue arrays and maps) recursively: a body of a few tens of
// megabytes nested millions deep overflows the goroutine stack, a fatal
// error that no recover catches, in Prometheus's receiver as in any other
// that decodes with pdata. checkDepth walks the body first, iteratively
// within the fixed OTLP schema, and refuses values nested deeper than
// MaxValueDepth.

// MaxValueDepth is the deepest an attribute value may nest arrays and maps
// (an array of arrays is 2). Prometheus turns such values into JSON label
// values; real ones nest a few levels at most.
const MaxValueDepth = 64

// maxJSONDepth bounds the nesting of a JSON body: the schema's dozen levels
// plus three per value level ({"arrayValue":{"values":[...]}}).
const maxJSONDepth = 16 + 3*MaxValueDepth

// msgKind is a message type of the OTLP metrics schema, as far as nesting
// is concerned.
type msgKind uint8

const (
	kindOther msgKind = iota // no submessage that can nest
	kindRequest
	kindResourceMetrics
	kindResource
	kindScopeMetrics
	kindScope
	kindMetric
	kindPoints // Gauge, Sum, Histogram, ExponentialHistogram, Summary: field 1
	kindNumberPoint
	kindHistogramPoint
	kindExpHistogramPoint
	kindSummaryPoint
	kindExemplar
	kindKeyValue
	kindAnyValue
	kindArrayValue
	kindKeyValueList
)

// child returns the kind of field num of a message of kind k, and whether
// the field is a message that can lead to a nested value.
func (k msgKind) child(num protowire.Number) (msgKind, bool) {
	switch k {
	case kindRequest:
		return kindResourceMetrics, num == 1
	case kindResourceMetrics:
		switch num {
		case 1:
			return kindResource, true
		case 2:
			return kindScopeMetrics, true
		}
	case kindResource, kindKeyValueList:
		return kindKeyValue, num == 1
	case kindScopeMetrics:
		switch num {
		case 1:
			return kindScope, true
		case 2:
			return kindMetric, true
		}
	case kindScope:
		return kindKeyValue, num == 3
	case kindMetric:
		switch num {
		case 5, 7, 9, 10, 11: // gauge, sum, histogram, exponential histogram, summary
			return kindPoints, true
		case 12: // metadata
			return kindKeyValue, true
		}
	case kindPoints:
		// Every point type's attributes and exemplars are looked at by
		// kindNumberPoint's table, a superset of the others' fields.
		return kindNumberPoint, num == 1
	case kindNumberPoint:
		// Attributes: 7 (number, summary), 9 (histogram), 1 (exponential
		// histogram). Exemplars: 5, 8, 11. A field that is a scalar in
		// one point type and a message in another is skipped by its wire
		// type.
		switch num {
		case 1, 7, 9:
			return kindKeyValue, true
		case 5, 8, 11:
			return kindExemplar, true
		}
	case kindExemplar:
		return kindKeyValue, num == 7
	case kindKeyValue:
		return kindAnyValue, num == 2
	case kindAnyValue:
		switch num {
		case 5:
			return kindArrayValue, true
		case 6:
			return kindKeyValueList, true
		}
	case kindArrayValue:
		return kindAnyValue, num == 1
	}
	return kindOther, false
}

var errTooDeep = errors.New("attribute value nested too deep")

// frame is a message being walked: its kind, the end of its bytes, and
// its value nesting depth.
type frame struct {
	kind  msgKind
	end   int
	depth int
}

// checkDepth refuses a protobuf body with an attribute value nested more
// than MaxValueDepth deep (remotewrite.ErrMalformed). It does not validate
// the rest: a body it lets through may still fail to decode.
func checkDepth(body []byte) error {
	stack := make([]frame, 1, 32)
	stack[0] = frame{kind: kindRequest, end: len(body)}
	pos := 0
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if pos >= top.end {
			pos = top.end
			stack = stack[:len(stack)-1]
			continue
		}
		num, typ, n := protowire.ConsumeTag(body[pos:top.end])
		if n < 0 {
			return nil // malformed: the decoder says how
		}
		pos += n
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, body[pos:top.end])
			if n < 0 {
				return nil
			}
			pos += n
			continue
		}
		v, n := protowire.ConsumeVarint(body[pos:top.end])
		if n < 0 || v > uint64(top.end-pos-n) {
			return nil
		}
		pos += n
		kind, ok := top.kind.child(num)
		if !ok {
			pos += int(v)
			continue
		}
		depth := top.depth
		if kind == kindArrayValue || kind == kindKeyValueList {
			depth++
			if depth > MaxValueDepth {
				return fmt.Errorf("%w: OTLP protobuf body: %w (more than %d levels of arrays and maps)", remotewrite.ErrMalformed, errTooDeep, MaxValueDepth)
			}
		}
		stack = append(stack, frame{kind: kind, end: pos + int(v), depth: depth})
	}
	return nil
}

// checkJSONDepth refuses a JSON body nested more than maxJSONDepth deep
// (remotewrite.ErrMalformed); brackets in strings do not count.
func checkJSONDepth(body []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range body {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxJSONDepth {
				return fmt.Errorf("%w: OTLP JSON body: %w (more than %d levels of objects and arrays)", remotewrite.ErrMalformed, errTooDeep, maxJSONDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors wrapped by [Error].
var (
	ErrTruncated      = errors.New("unexpected end of input")
	ErrVarintOverflow = errors.New("varint longer than 10 bytes")
	ErrBadLength      = errors.New("length prefix inconsistent with the data it covers")
	ErrWrongWireType  = errors.New("wrong wire type")
	ErrIllegalTag     = errors.New("illegal tag")
	ErrEndGroup       = errors.New("end group without a start group")
)

// Error says where a malformed message went wrong.
type Error struct {
	// Field is the message and field being decoded, e.g.
	// "TimeSeries.labels", or the message alone for a malformed key or
	// unknown field.
	Field string
	// Offset is the byte offset in the whole input where decoding failed:
	// the field's key for a wrong wire type, a malformed key or a malformed
	// unknown field, the value otherwise.
	Offset int
	// WireType is the wire type found, for ErrWrongWireType and
	// ErrIllegalTag.
	WireType int
	// Err is one of the sentinel errors of this package.
	Err error
}

func (e *Error) Error() string {
	if errors.Is(e.Err, ErrWrongWireType) || errors.Is(e.Err, ErrIllegalTag) {
		return fmt.Sprintf("decoding %s at offset %d: %v %d", e.Field, e.Offset, e.Err, e.WireType)
	}
	return fmt.Sprintf("decoding %s at offset %d: %v", e.Field, e.Offset, e.Err)
}

// Unwrap returns the sentinel error.
func (e *Error) Unwrap() error { return e.Err }

// Error codes returned by the low-level readers instead of errors, so the
// hot path never builds an error value.
const (
	codeTruncated = -1 - iota
	codeOverflow
	codeBadLength
	codeEndGroup
	codeIllegalWireType
	codeIllegalTag
)

func codeErr(code int) error {
	switch code {
	case codeTruncated:
		return ErrTruncated
	case codeOverflow:
		return ErrVarintOverflow
	case codeBadLength:
		return ErrBadLength
	case codeEndGroup:
		return ErrEndGroup
	case codeIllegalTag:
		return ErrIllegalTag
	default:
		return ErrWrongWireType
	}
}

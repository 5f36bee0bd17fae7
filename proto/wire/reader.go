package wire

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// Type is a protobuf wire type.
type Type int

// The wire types.
const (
	VarintType     Type = 0
	Fixed64Type    Type = 1
	BytesType      Type = 2
	StartGroupType Type = 3
	EndGroupType   Type = 4
	Fixed32Type    Type = 5
)

// Reader iterates over the fields of one message. The zero Reader reads an
// empty message. It is a small value: keep it on the stack, pass it to the
// decoder of a sub-message by value.
type Reader struct {
	data []byte
	msg  string // message name, for errors in keys and unknown fields
	base int    // offset of data[0] in the whole input
	i    int    // next unread byte
	key  int    // offset in data of the current field's key
	tag  uint64 // the current field's key: number<<3 | wire type
	err  *Error
}

// NewReader returns a reader of the message in data, named msg in errors.
func NewReader(data []byte, msg string) Reader {
	return Reader{data: data, msg: msg}
}

// NewReaderAt is [NewReader] for data that starts at offset base of the
// whole input, so that errors give offsets in the whole input.
func NewReaderAt(data []byte, base int, msg string) Reader {
	return Reader{data: data, msg: msg, base: base}
}

// simpleKey tells the one-byte keys Next takes on its fast path: field
// number above 0, wire type other than end group.
var simpleKey = func() (t [256]bool) {
	for b := 8; b < 0x80; b++ {
		t[b] = b&7 != int(EndGroupType)
	}
	return t
}()

// Next reads the next field's key. It returns false at the end of the
// message or at the first error, which [Reader.Err] then returns. Keys of
// field number 0 and end-group keys are errors, as in the generated code.
func (r *Reader) Next() bool {
	// Kept small enough for the compiler to inline: the one-byte keys of
	// fields 1 to 15 here, everything else in nextSlow. After an error r.i
	// is len(r.data).
	d, i := r.data, r.i
	if uint(i) < uint(len(d)) {
		if b := d[i]; simpleKey[b] {
			r.key, r.tag, r.i = i, uint64(b), i+1
			return true
		}
		return r.nextSlow()
	}
	return false
}

func (r *Reader) nextSlow() bool {
	if r.i >= len(r.data) {
		return false
	}
	r.key = r.i
	k, n := readVarint(r.data, r.i)
	if n < 0 {
		r.fail(r.msg, r.key, n)
		return false
	}
	r.tag = k
	r.i = n
	if r.Type() == EndGroupType {
		r.fail(r.msg, r.key, codeEndGroup)
		return false
	}
	if r.Field() <= 0 {
		r.fail(r.msg, r.key, codeIllegalTag)
		return false
	}
	return true
}

// Field is the current field's number.
func (r *Reader) Field() int32 { return int32(r.tag >> 3) }

// Type is the current field's wire type.
func (r *Reader) Type() Type { return Type(r.tag & 7) }

// Err is the first error met, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Offset is the offset in the whole input of the current field's key.
func (r *Reader) Offset() int { return r.base + r.key }

// fail records the error code at data offset off, unless an error is
// already recorded.
func (r *Reader) fail(field string, off, code int) {
	if r.err == nil {
		r.err = &Error{Field: field, Offset: r.base + off, WireType: int(r.tag & 7), Err: codeErr(code)}
	}
	r.i = len(r.data)
}

// wrongType records a wrong wire type for field at the current key.
func (r *Reader) wrongType(field string) {
	r.fail(field, r.key, codeIllegalWireType)
}

// Skip skips the current field, groups included.
func (r *Reader) Skip() {
	// Fast paths for the common wire types; anything malformed, and
	// groups, go through skipField from the key, which reports the error.
	d, i := r.data, r.i
	switch r.Type() {
	case VarintType:
		if i < len(d) && d[i] < 0x80 {
			r.i = i + 1
			return
		}
		if _, n := readVarintSlow(d, i); n >= 0 {
			r.i = n
			return
		}
	case BytesType:
		if i < len(d) && d[i] < 0x80 && int(d[i]) < len(d)-i {
			r.i = i + 1 + int(d[i])
			return
		}
		if _, e := readLen(d, i); e > 0 {
			r.i = e
			return
		}
	case Fixed64Type:
		if len(d)-i >= 8 {
			r.i = i + 8
			return
		}
	case Fixed32Type:
		if len(d)-i >= 4 {
			r.i = i + 4
			return
		}
	}
	n := skipField(d, r.key)
	if n < 0 {
		r.fail(r.msg, r.key, n)
		return
	}
	r.i = n
}

// Varint reads the current field as a varint (int32, int64, uint32,
// uint64, bool, enum). Like the generated code it accepts up to 10 bytes
// and drops bits beyond 64; conversions to narrower types truncate.
func (r *Reader) Varint(field string) uint64 {
	if d, i := r.data, r.i; uint(i) < uint(len(d)) && r.tag&7 == 0 {
		if b := d[i]; b < 0x80 {
			r.i = i + 1
			return uint64(b)
		}
		if v, n := readVarintSlow(d, i); n >= 0 {
			r.i = n
			return v
		}
	}
	return r.varintSlow(field)
}

func (r *Reader) varintSlow(field string) uint64 {
	if r.Type() != VarintType {
		r.wrongType(field)
		return 0
	}
	v, n := readVarintSlow(r.data, r.i)
	if n < 0 {
		r.fail(field, r.i, n)
		return 0
	}
	r.i = n
	return v
}

// Sint32 reads the current field as a zigzag-encoded sint32.
func (r *Reader) Sint32(field string) int32 {
	u := uint32(r.Varint(field))
	return int32(u>>1) ^ -int32(u&1)
}

// Sint64 reads the current field as a zigzag-encoded sint64.
func (r *Reader) Sint64(field string) int64 { return zigzag64(r.Varint(field)) }

func zigzag64(v uint64) int64 { return int64(v>>1) ^ -int64(v&1) }

// Fixed64 reads the current field as 8 little-endian bytes (fixed64,
// sfixed64, double).
func (r *Reader) Fixed64(field string) uint64 {
	if d, i := r.data, r.i; r.tag&7 == 1 && uint(i) <= uint(len(d)) && len(d)-i >= 8 {
		r.i = i + 8
		return binary.LittleEndian.Uint64(d[i : i+8 : i+8])
	}
	return r.fixed64Slow(field)
}

func (r *Reader) fixed64Slow(field string) uint64 {
	if r.Type() != Fixed64Type {
		r.wrongType(field)
		return 0
	}
	r.fail(field, r.i, codeTruncated)
	return 0
}

// Double reads the current field as a double.
func (r *Reader) Double(field string) float64 { return math.Float64frombits(r.Fixed64(field)) }

// Bytes reads the current field as length-delimited bytes, aliasing the
// input (see the package documentation); their capacity ends with them.
func (r *Reader) Bytes(field string) []byte {
	s, e := r.span(field)
	return r.data[s:e:e]
}

// span reads a length prefix and returns the bounds in data of the bytes
// it covers, or s == e == r.i after recording an error.
func (r *Reader) span(field string) (s, e int) {
	if r.i < len(r.data) && r.tag&7 == 2 {
		// One-byte length within the input: most fields.
		if l := int(r.data[r.i]); l < 0x80 && l < len(r.data)-r.i {
			s = r.i + 1
			r.i = s + l
			return s, r.i
		}
	}
	return r.spanSlow(field)
}

func (r *Reader) spanSlow(field string) (s, e int) {
	if r.Type() != BytesType {
		r.wrongType(field)
		return r.i, r.i
	}
	s, e = readLen(r.data, r.i)
	if s < 0 {
		r.fail(field, r.i, s)
		return r.i, r.i
	}
	r.i = e
	return s, e
}

// String reads the current field as a string aliasing the input (see the
// package documentation).
func (r *Reader) String(field string) string {
	// Fast path: a one-byte length within the input, read through locals
	// and raw pointers so that no bound is checked twice.
	d, i := r.data, r.i
	if uint(i) < uint(len(d)) && r.tag&7 == 2 {
		if l := int(d[i]); l < 0x80 && l < len(d)-i {
			r.i = i + 1 + l
			if l == 0 {
				return ""
			}
			return unsafe.String((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(d)), i+1)), l)
		}
	}
	return Alias(r.Bytes(field))
}

// Message reads the current field as an embedded message, named msg in
// errors, and returns its reader; offsets in its errors stay offsets in
// the whole input. After an error it returns an empty reader.
func (r *Reader) Message(field, msg string) Reader {
	var sub Reader
	r.MessageTo(&sub, field, msg)
	return sub
}

// MessageTo is [Reader.Message] storing the reader in *sub: hot decoders
// use it to save copying a returned Reader.
func (r *Reader) MessageTo(sub *Reader, field, msg string) {
	d, i := r.data, r.i
	if uint(i) < uint(len(d)) && r.tag&7 == 2 {
		if l := int(d[i]); l < 0x80 && l < len(d)-i {
			r.i = i + 1 + l
			*sub = Reader{msg: msg, base: r.base + i + 1}
			if l > 0 {
				sub.data = unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(d)), i+1)), l)
			}
			return
		}
	}
	s, e := r.spanSlow(field)
	*sub = Reader{data: r.data[s:e:e], msg: msg, base: r.base + s}
}

// AppendSint64s appends the current field, one zigzag varint (wire type 0)
// or a packed run of them (wire type 2), to dst.
func (r *Reader) AppendSint64s(dst []int64, field string) []int64 {
	if r.Type() != BytesType {
		if r.Type() != VarintType {
			r.wrongType(field)
			return dst
		}
		v := r.Varint(field)
		if r.err != nil {
			return dst
		}
		return append(dst, zigzag64(v))
	}
	s, e := r.span(field)
	for j := s; j < e; {
		v, n := readVarint(r.data[:e], j)
		if n == codeTruncated {
			n = codeBadLength // the last varint runs past the packed run
		}
		if n < 0 {
			r.fail(field, j, n)
			return dst
		}
		dst = append(dst, zigzag64(v))
		j = n
	}
	return dst
}

// AppendUint32s appends the current field, one varint (wire type 0) or a
// packed run of them (wire type 2), truncated to 32 bits, to dst. When max
// is above 0 it stops and returns false before dst would grow past max
// elements, recording no error: the caller reports its own limit.
func (r *Reader) AppendUint32s(dst []uint32, field string, max int) ([]uint32, bool) {
	if r.Type() != BytesType {
		if r.Type() != VarintType {
			r.wrongType(field)
			return dst, true
		}
		v := r.Varint(field)
		if r.err != nil {
			return dst, true
		}
		if max > 0 && len(dst) >= max {
			return dst, false
		}
		return append(dst, uint32(v)), true
	}
	s, e := r.span(field)
	for j := s; j < e; {
		v, n := readVarint(r.data[:e], j)
		if n == codeTruncated {
			n = codeBadLength
		}
		if n < 0 {
			r.fail(field, j, n)
			return dst, true
		}
		if max > 0 && len(dst) >= max {
			return dst, false
		}
		dst = append(dst, uint32(v))
		j = n
	}
	return dst, true
}

// AppendDoubles appends the current field, one double (wire type 1) or a
// packed run of them (wire type 2), to dst.
func (r *Reader) AppendDoubles(dst []float64, field string) []float64 {
	if r.Type() != BytesType {
		if r.Type() != Fixed64Type {
			r.wrongType(field)
			return dst
		}
		v := r.Double(field)
		if r.err != nil {
			return dst
		}
		return append(dst, v)
	}
	start := r.i
	s, e := r.span(field)
	if (e-s)%8 != 0 {
		r.fail(field, start, codeBadLength)
		return dst
	}
	for j := s; j < e; j += 8 {
		dst = append(dst, math.Float64frombits(binary.LittleEndian.Uint64(r.data[j:])))
	}
	return dst
}

// Grow extends s by one element, reusing the element left in the spare
// capacity (and its inner slices) when there is one: the decoder must
// reset every field of it.
func Grow[T any](s []T) []T {
	if len(s) < cap(s) {
		return s[:len(s)+1]
	}
	var zero T
	return append(s, zero)
}

// NilIfEmpty returns nil for an empty s, dropping its capacity, so that a
// reused slice that decoded nothing reads like a fresh message's absent
// field.
func NilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// Data returns the bytes of the message r reads, from its first field to
// its end whatever r has read of them, aliasing the input (see the package
// documentation) with the capacity cut at their end: for a decoder's fast
// path over a message of known layout, which falls back to reading r when
// the layout is not the one it expects.
func (r *Reader) Data() []byte { return r.data[:len(r.data):len(r.data)] }

// OrBytes ORs b's bytes together, eight at a time: a decoder that ORs the
// strings it reads tells afterwards, with [NotASCII], whether any of them
// held a byte that is not ASCII, without a second pass over them.
func OrBytes(b []byte) uint64 {
	var w uint64
	for len(b) >= 8 {
		w |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		w |= uint64(c)
	}
	return w
}

// NotASCII reports whether an OR of bytes ([OrBytes]) holds a byte that is
// not ASCII.
func NotASCII(or uint64) bool { return or&0x8080808080808080 != 0 }

// Alias returns a string sharing b's memory: valid only while b is
// unchanged (see the package documentation).
func Alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// readVarint reads a varint at data[i:]. It returns the value and the
// index after it, or a negative code.
func readVarint(data []byte, i int) (uint64, int) {
	if i < len(data) && data[i] < 0x80 {
		return uint64(data[i]), i + 1
	}
	return readVarintSlow(data, i)
}

func readVarintSlow(data []byte, i int) (uint64, int) {
	// Unrolled: constant shifts, one length check per byte.
	if i >= len(data) {
		return 0, codeTruncated
	}
	d := data[i:]
	v := uint64(d[0] & 0x7f)
	if len(d) <= 1 {
		return 0, codeTruncated
	}
	v |= uint64(d[1]&0x7f) << 7
	if d[1] < 0x80 {
		return v, i + 2
	}
	if len(d) <= 2 {
		return 0, codeTruncated
	}
	v |= uint64(d[2]&0x7f) << 14
	if d[2] < 0x80 {
		return v, i + 3
	}
	if len(d) <= 3 {
		return 0, codeTruncated
	}
	v |= uint64(d[3]&0x7f) << 21
	if d[3] < 0x80 {
		return v, i + 4
	}
	if len(d) <= 4 {
		return 0, codeTruncated
	}
	v |= uint64(d[4]&0x7f) << 28
	if d[4] < 0x80 {
		return v, i + 5
	}
	if len(d) <= 5 {
		return 0, codeTruncated
	}
	v |= uint64(d[5]&0x7f) << 35
	if d[5] < 0x80 {
		return v, i + 6
	}
	if len(d) <= 6 {
		return 0, codeTruncated
	}
	v |= uint64(d[6]&0x7f) << 42
	if d[6] < 0x80 {
		return v, i + 7
	}
	if len(d) <= 7 {
		return 0, codeTruncated
	}
	v |= uint64(d[7]&0x7f) << 49
	if d[7] < 0x80 {
		return v, i + 8
	}
	if len(d) <= 8 {
		return 0, codeTruncated
	}
	v |= uint64(d[8]&0x7f) << 56
	if d[8] < 0x80 {
		return v, i + 9
	}
	if len(d) <= 9 {
		return 0, codeTruncated
	}
	v |= uint64(d[9]&0x7f) << 63
	if d[9] < 0x80 {
		return v, i + 10
	}
	return 0, codeOverflow
}

// readLen reads a length prefix at data[i:] and returns the bounds of the
// bytes it covers, or a negative code in start.
func readLen(data []byte, i int) (start, end int) {
	// readVarint's fast path by hand: readVarint itself is not inlined.
	var l uint64
	var n int
	if uint(i) < uint(len(data)) && data[i] < 0x80 {
		l, n = uint64(data[i]), i+1
	} else {
		l, n = readVarintSlow(data, i)
	}
	if n < 0 {
		return n, 0
	}
	if l > uint64(len(data)-n) {
		if l > math.MaxInt64 {
			return codeBadLength, 0
		}
		return codeTruncated, 0
	}
	return n, n + int(l)
}

// skipField skips the field whose key starts at data[i:], groups
// included, with the generated code's rules. It returns the index after
// the field or a negative code.
func skipField(data []byte, i int) int {
	depth := 0
	for i < len(data) {
		k, n := readVarint(data, i)
		if n < 0 {
			return n
		}
		i = n
		switch k & 7 {
		case 0:
			_, n := readVarint(data, i)
			if n < 0 {
				return n
			}
			i = n
		case 1:
			i += 8
		case 2:
			l, n := readVarint(data, i)
			if n < 0 {
				return n
			}
			if l > math.MaxInt64 || l > uint64(math.MaxInt-n) {
				return codeBadLength
			}
			i = n + int(l)
		case 3:
			depth++
		case 4:
			if depth == 0 {
				return codeEndGroup
			}
			depth--
		case 5:
			i += 4
		default:
			return codeIllegalWireType
		}
		if depth == 0 {
			if i > len(data) {
				return codeTruncated
			}
			return i
		}
	}
	return codeTruncated
}

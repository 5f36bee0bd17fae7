package wire

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded field, as the reference (protowire) sees it.
type field struct {
	num int32
	typ Type
	u   uint64
	b   string
}

// readAll decodes every field of data generically, the way a decoder
// built on Reader does: varints, fixed64, bytes (also tried as a packed
// sint64 run), fixed32 and groups skipped.
func readAll(data []byte) ([]field, error) {
	var out []field
	r := NewReader(data, "Msg")
	for r.Next() {
		f := field{num: r.Field(), typ: r.Type()}
		switch r.Type() {
		case VarintType:
			f.u = r.Varint("Msg.varint")
		case Fixed64Type:
			f.u = r.Fixed64("Msg.fixed64")
		case BytesType:
			f.b = r.String("Msg.bytes")
		default:
			r.Skip()
		}
		out = append(out, f)
	}
	return out, r.Err()
}

// skipGroup skips the rest of a group with the generated code's rule,
// which protowire does not share: an end-group key closes the innermost
// group whatever its field number.
func skipGroup(data []byte) int {
	total := 0
	for depth := 1; depth > 0; {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return n
		}
		data, total = data[n:], total+n
		switch typ {
		case protowire.StartGroupType:
			depth++
			continue
		case protowire.EndGroupType:
			depth--
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return m
		}
		data, total = data[m:], total+m
	}
	return total
}

// reference decodes data with protowire, skipping groups and fixed32.
func reference(data []byte) ([]field, error) {
	var out []field
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return out, protowire.ParseError(n)
		}
		data = data[n:]
		f := field{num: int32(num), typ: Type(typ)}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(data)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(data)
		case protowire.BytesType:
			var b []byte
			b, n = protowire.ConsumeBytes(data)
			f.b = string(b)
		case protowire.StartGroupType:
			n = skipGroup(data)
		default:
			n = protowire.ConsumeFieldValue(num, typ, data)
		}
		if n < 0 {
			return out, protowire.ParseError(n)
		}
		data = data[n:]
		out = append(out, f)
	}
	return out, nil
}

func TestReaderErrors(t *testing.T) {
	tests := map[string]struct {
		data      []byte
		wantErr   error
		wantField string
		wantOff   int
	}{
		"truncated key":            {data: []byte{0x80}, wantErr: ErrTruncated, wantField: "Msg", wantOff: 0},
		"truncated varint":         {data: []byte{0x08, 0x80}, wantErr: ErrTruncated, wantField: "Msg.varint", wantOff: 1},
		"varint of 11 bytes":       {data: []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: ErrVarintOverflow, wantField: "Msg.varint", wantOff: 1},
		"truncated fixed64":        {data: []byte{0x09, 1, 2, 3}, wantErr: ErrTruncated, wantField: "Msg.fixed64", wantOff: 1},
		"length beyond the input":  {data: []byte{0x12, 0x05, 'a'}, wantErr: ErrTruncated, wantField: "Msg.bytes", wantOff: 1},
		"huge length":              {data: []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: ErrBadLength, wantField: "Msg.bytes", wantOff: 1},
		"field number zero":        {data: []byte{0x00, 0x01}, wantErr: ErrIllegalTag, wantField: "Msg", wantOff: 0},
		"end group without start":  {data: []byte{0x0c}, wantErr: ErrEndGroup, wantField: "Msg", wantOff: 0},
		"wire type 7":              {data: []byte{0x0f}, wantErr: ErrWrongWireType, wantField: "Msg", wantOff: 0},
		"unterminated group":       {data: []byte{0x0b, 0x10, 0x01}, wantErr: ErrTruncated, wantField: "Msg", wantOff: 0},
		"error after a good field": {data: []byte{0x08, 0x01, 0x12, 0x02, 'a'}, wantErr: ErrTruncated, wantField: "Msg.bytes", wantOff: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := readAll(tc.data)
			require.ErrorIs(t, err, tc.wantErr)
			var we *Error
			require.ErrorAs(t, err, &we)
			require.Equal(t, tc.wantField, we.Field, err.Error())
			require.Equal(t, tc.wantOff, we.Offset, err.Error())
			_, refErr := reference(tc.data)
			require.Error(t, refErr, "the reference accepts it")
		})
	}
}

func TestReaderWrongWireType(t *testing.T) {
	// Field 1 as bytes, read as a varint by a decoder that expects one.
	data := []byte{0x08, 0x01, 0x12, 0x00}
	r := NewReader(data, "Msg")
	require.True(t, r.Next())
	require.Equal(t, uint64(1), r.Varint("Msg.a"))
	require.True(t, r.Next())
	require.Zero(t, r.Varint("Msg.b"))
	require.False(t, r.Next())
	var we *Error
	require.ErrorAs(t, r.Err(), &we)
	require.Equal(t, Error{Field: "Msg.b", Offset: 2, WireType: 2, Err: ErrWrongWireType}, *we)
	require.Equal(t, "decoding Msg.b at offset 2: wrong wire type 2", we.Error())
}

func TestMessageOffsetsAreAbsolute(t *testing.T) {
	// Outer field 1 holds a message whose field 2 is truncated bytes.
	data := []byte{0x08, 0x05, 0x0a, 0x03, 0x12, 0x04, 'x'}
	r := NewReader(data, "Outer")
	require.True(t, r.Next())
	r.Varint("Outer.a")
	require.True(t, r.Next())
	sub := r.Message("Outer.inner", "Inner")
	require.NoError(t, r.Err())
	require.True(t, sub.Next())
	require.Equal(t, 4, sub.Offset())
	require.Empty(t, sub.Bytes("Inner.b"))
	require.False(t, sub.Next())
	var we *Error
	require.ErrorAs(t, sub.Err(), &we)
	require.Equal(t, "Inner.b", we.Field)
	require.Equal(t, 5, we.Offset)
	require.False(t, r.Next())
	require.NoError(t, r.Err())
}

func TestPacked(t *testing.T) {
	var sints []byte
	for _, v := range []int64{0, -1, 1, math.MinInt64, math.MaxInt64} {
		sints = protowire.AppendVarint(sints, protowire.EncodeZigZag(v))
	}
	var doubles []byte
	for _, v := range []float64{1.5, -2, math.Inf(1)} {
		doubles = binary.LittleEndian.AppendUint64(doubles, math.Float64bits(v))
	}
	data := protowire.AppendTag(nil, 1, protowire.BytesType)
	data = protowire.AppendBytes(data, sints)
	data = protowire.AppendTag(data, 1, protowire.VarintType)
	data = protowire.AppendVarint(data, protowire.EncodeZigZag(-7))
	data = protowire.AppendTag(data, 2, protowire.BytesType)
	data = protowire.AppendBytes(data, doubles)
	data = protowire.AppendTag(data, 2, protowire.Fixed64Type)
	data = protowire.AppendFixed64(data, math.Float64bits(3))
	data = protowire.AppendTag(data, 3, protowire.BytesType)
	data = protowire.AppendBytes(data, []byte{1, 0x80, 0x01, 5})
	data = protowire.AppendTag(data, 3, protowire.VarintType)
	data = protowire.AppendVarint(data, 1<<32+9)

	var (
		gotS []int64
		gotD []float64
		gotU []uint32
	)
	r := NewReader(data, "Msg")
	for r.Next() {
		switch r.Field() {
		case 1:
			gotS = r.AppendSint64s(gotS, "Msg.s")
		case 2:
			gotD = r.AppendDoubles(gotD, "Msg.d")
		case 3:
			var ok bool
			gotU, ok = r.AppendUint32s(gotU, "Msg.u", 0)
			require.True(t, ok)
		}
	}
	require.NoError(t, r.Err())
	require.Equal(t, []int64{0, -1, 1, math.MinInt64, math.MaxInt64, -7}, gotS)
	require.Equal(t, []float64{1.5, -2, math.Inf(1), 3}, gotD)
	require.Equal(t, []uint32{1, 128, 5, 9}, gotU)

	// A limit stops before the element over it, with no error.
	r = NewReader([]byte{0x1a, 0x04, 1, 0x80, 0x01, 5}, "Msg")
	require.True(t, r.Next())
	u, ok := r.AppendUint32s(nil, "Msg.u", 2)
	require.False(t, ok)
	require.Equal(t, []uint32{1, 128}, u)
	require.NoError(t, r.Err())

	for name, tc := range map[string]struct {
		data []byte
		read func(r *Reader)
	}{
		"packed sint64 overrun": {data: []byte{0x0a, 0x01, 0x80}, read: func(r *Reader) { r.AppendSint64s(nil, "Msg.x") }},
		"packed uint32 overrun": {data: []byte{0x0a, 0x01, 0x80}, read: func(r *Reader) { r.AppendUint32s(nil, "Msg.x", 0) }},
		"packed doubles of 7":   {data: []byte{0x0a, 0x07, 0, 0, 0, 0, 0, 0, 0}, read: func(r *Reader) { r.AppendDoubles(nil, "Msg.x") }},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(tc.data, "Msg")
			require.True(t, r.Next())
			tc.read(&r)
			require.ErrorIs(t, r.Err(), ErrBadLength)
			require.False(t, r.Next())
		})
	}
}

func TestGrowReusesAndNilIfEmpty(t *testing.T) {
	type elem struct{ inner []int }
	s := []elem{{inner: make([]int, 3)}}
	s = s[:0]
	s = Grow(s)
	require.Len(t, s, 1)
	require.Len(t, s[0].inner, 3, "the element in spare capacity comes back with its slices")
	s = Grow(s)
	require.Len(t, s, 2)
	require.Nil(t, NilIfEmpty(s[:0]))
	require.Len(t, NilIfEmpty(s), 2)
}

func TestAliasSharesMemory(t *testing.T) {
	b := []byte("abc")
	s := Alias(b)
	b[0] = 'x'
	require.Equal(t, "xbc", s)
	require.Empty(t, Alias(nil))

	r := NewReader([]byte{0x0a, 0x02, 'h', 'i', 0x08, 0x01}, "Msg")
	require.True(t, r.Next())
	v := r.Bytes("Msg.b")
	require.Equal(t, 2, cap(v), "an append must not write into the input")
}

// FuzzReader feeds random bytes to a generic decoder built on Reader: it
// must never panic, must accept exactly what protowire accepts with the
// same fields, and must fail on every proper prefix that cuts a field.
func FuzzReader(f *testing.F) {
	seed := protowire.AppendTag(nil, 1, protowire.VarintType)
	seed = protowire.AppendVarint(seed, 300)
	seed = protowire.AppendTag(seed, 2, protowire.BytesType)
	seed = protowire.AppendBytes(seed, []byte("hello"))
	seed = protowire.AppendTag(seed, 3, protowire.Fixed64Type)
	seed = protowire.AppendFixed64(seed, 7)
	seed = protowire.AppendTag(seed, 4, protowire.StartGroupType)
	seed = protowire.AppendTag(seed, 1, protowire.Fixed32Type)
	seed = protowire.AppendFixed32(seed, 1)
	seed = protowire.AppendTag(seed, 4, protowire.EndGroupType)
	f.Add(seed)
	f.Add([]byte{0x0a, 0x01, 0x80})
	f.Add([]byte{0x0c})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readAll(data)
		want, refErr := reference(data)
		if refErr != nil && err == nil && (strings.Contains(refErr.Error(), "overflow") || strings.Contains(refErr.Error(), "invalid field number")) {
			// Where the generated code, which we follow, is laxer than
			// protowire: a 10-byte varint's bits beyond 64 are dropped,
			// field numbers are not checked against 2^29.
			return
		}
		if refErr != nil {
			require.Error(t, err, "accepted what protowire rejects")
			var we *Error
			require.ErrorAs(t, err, &we)
			require.GreaterOrEqual(t, we.Offset, 0)
			require.LessOrEqual(t, we.Offset, len(data))
		} else {
			require.NoError(t, err, "rejected what protowire accepts")
			require.Equal(t, want, got)
		}

		// Packed readers on the same bytes: no panic, consistent errors.
		r := NewReader(data, "Msg")
		for r.Next() {
			switch r.Field() % 3 {
			case 0:
				r.AppendSint64s(nil, "Msg.s")
			case 1:
				r.AppendDoubles(nil, "Msg.d")
			default:
				r.AppendUint32s(nil, "Msg.u", 4)
			}
			if r.Err() == nil && r.Type() != BytesType && r.Type() != VarintType && r.Type() != Fixed64Type {
				t.Fatalf("wire type %d accepted by a packed reader", r.Type())
			}
		}

		// A complete message cut inside its last field is an error.
		if err == nil && len(got) > 0 {
			last := 0
			for r := NewReader(data, "Msg"); r.Next(); r.Skip() {
				last = r.Offset()
			}
			for cut := last + 1; cut < len(data); cut++ {
				_, err := readAll(data[:cut])
				require.ErrorIsf(t, err, ErrTruncated, "cut at %d of %d", cut, len(data))
			}
		}
	})
}

func TestOrBytesNotASCII(t *testing.T) {
	tests := map[string]struct {
		in   string
		want bool // NotASCII
	}{
		"empty":                      {"", false},
		"short ASCII":                {"job", false},
		"ASCII over several words":   {"label_value_of_twenty_three", false},
		"0x80 in the tail":           {"ab\x80", true},
		"0xff in the first word":     {"\xffabcdefgh", true},
		"UTF-8 past the first word":  {"instance_zürich", true},
		"DEL (0x7f) is still ASCII":  {"\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", false},
		"0x80 as the last of a word": {"abcdefg\x80", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, NotASCII(OrBytes([]byte(tc.in))))
		})
	}
}

func TestReaderData(t *testing.T) {
	// A message holding field 1 = "ab", then a sub-message in field 2.
	data := []byte{0x0a, 0x02, 'a', 'b', 0x12, 0x03, 0x08, 0x01, 0x00}
	r := NewReader(data, "M")
	require.Equal(t, data, r.Data())
	require.True(t, r.Next())
	require.Equal(t, "ab", r.String("M.a"))
	require.True(t, r.Next())
	sub := r.Message("M.b", "Sub")
	got := sub.Data()
	require.Equal(t, []byte{0x08, 0x01, 0x00}, got)
	require.Equal(t, len(got), cap(got), "appending must not write into the input")
	require.Equal(t, data, r.Data(), "what was read is still part of Data")
}

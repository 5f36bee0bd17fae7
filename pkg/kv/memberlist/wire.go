package memberlist

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// wireVersion is the first byte of every message.
const wireVersion = 1

// record is one key's value (or change) on the wire.
type record struct {
	key, codecID string
	value        []byte
}

// appendRecords appends the wire form of records to dst and returns the
// result.
func appendRecords(dst []byte, records ...record) []byte {
	dst = append(dst, wireVersion)
	for _, r := range records {
		dst = appendString(dst, r.key)
		dst = appendString(dst, r.codecID)
		dst = binary.AppendUvarint(dst, uint64(len(r.value)))
		dst = append(dst, r.value...)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errTruncated = errors.New("truncated message")

// parseRecords parses a message written by appendRecords. The values alias
// b. It never panics.
func parseRecords(b []byte) ([]record, error) {
	if len(b) == 0 {
		return nil, errTruncated
	}
	if b[0] != wireVersion {
		return nil, fmt.Errorf("unknown wire version %d", b[0])
	}
	b = b[1:]
	var out []record
	for len(b) > 0 {
		var r record
		var key, codec []byte
		var err error
		if key, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if codec, b, err = readBytes(b); err != nil {
			return nil, err
		}
		if r.value, b, err = readBytes(b); err != nil {
			return nil, err
		}
		r.key, r.codecID = string(key), string(codec)
		out = append(out, r)
	}
	return out, nil
}

func readBytes(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, nil, errTruncated
	}
	b = b[k:]
	if n > uint64(len(b)) {
		return nil, nil, errTruncated
	}
	return b[:n], b[n:], nil
}

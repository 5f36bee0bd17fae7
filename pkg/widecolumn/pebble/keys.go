package pebble

import (
	"fmt"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// appendRowKey appends row escaped: 0x00 becomes 0x00 0xff. The escaping
// preserves order and prefixes.
func appendRowKey(dst, row []byte) []byte {
	for _, c := range row {
		dst = append(dst, c)
		if c == 0 {
			dst = append(dst, 0xff)
		}
	}
	return dst
}

// appendCellKey appends the Pebble key of one cell: escaped row, 0x00 0x01,
// column.
func appendCellKey(dst, row, column []byte) []byte {
	dst = appendRowKey(dst, row)
	dst = append(dst, 0, 1)
	return append(dst, column...)
}

// decodeCellKey splits a Pebble key into row and column. row is newly
// allocated; column aliases key.
func decodeCellKey(key []byte) (row, column []byte, err error) {
	row = make([]byte, 0, len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c != 0 {
			row = append(row, c)
			continue
		}
		if i+1 >= len(key) {
			return nil, nil, fmt.Errorf("%w: truncated escape in key %x", widecolumn.ErrCorrupt, key)
		}
		switch key[i+1] {
		case 0xff:
			row = append(row, 0)
			i++
		case 1:
			return row, key[i+2:], nil
		default:
			return nil, nil, fmt.Errorf("%w: bad escape in key %x", widecolumn.ErrCorrupt, key)
		}
	}
	return nil, nil, fmt.Errorf("%w: key %x without row terminator", widecolumn.ErrCorrupt, key)
}

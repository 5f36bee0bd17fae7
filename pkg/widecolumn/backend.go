package widecolumn

import (
	"context"
	"errors"
)

// Sentinel errors of the package and its backends. Callers test them with
// errors.Is.
var (
	// ErrUnsupported is returned by a [Backend] for a [ReadRequest] it
	// cannot serve (for example both Keys and Ranges set).
	ErrUnsupported = errors.New("unsupported read request")
	// ErrCorrupt is returned when a stored key or cell cannot be decoded.
	// Packages that build on the table (chunk, auth) return it for their
	// own rows too, so one errors.Is finds every kind of corruption.
	ErrCorrupt = errors.New("corrupt row")
	// ErrInvalidTenant is returned for an empty tenant, which has no
	// namespace prefix (see [Namespace.AppendTenant]).
	ErrInvalidTenant = errors.New("invalid tenant")
)

// Backend is the narrow wide-column store every row of Hearth is written
// through: rows with ordered byte-string keys, each holding cells addressed
// by a column (one column family, one version per cell). Which rows belong
// to whom is decided by [Namespaces].
//
// Implementations must be safe for concurrent use. Byte slices passed to a
// Backend are not retained after the call returns; rows handed to a read
// callback belong to the callback.
type Backend interface {
	// Apply writes every cell of every mutation. Setting a cell that
	// already holds the same value changes nothing, so Apply is idempotent.
	// A batch may be split into several calls to the store and is not
	// atomic on every backend: on error, any subset may have been written.
	Apply(ctx context.Context, muts []RowMutation) error
	// Read calls fn for every row the request selects that still has a
	// cell after the request's filters. fn is never called concurrently,
	// but rows of different batches may arrive in any order. Returning
	// false from fn stops the read without error.
	Read(ctx context.Context, req ReadRequest, fn func(Row) bool) error
	// DropPrefix deletes every row whose key starts with prefix. An empty
	// prefix is refused.
	DropPrefix(ctx context.Context, prefix []byte) error
	// Close releases the backend's resources.
	Close() error
}

// Cell is one value in a row, addressed by its column.
type Cell struct {
	Column []byte
	Value  []byte
}

// RowMutation sets cells in one row.
type RowMutation struct {
	Key   []byte
	Cells []Cell
}

// Row is a row as read: its key and its cells, sorted by column.
type Row struct {
	Key   []byte
	Cells []Cell
}

// KeyRange is the half-open range of row keys [Start, End). An empty End
// means "to the end of the table".
type KeyRange struct {
	Start, End []byte
}

// PrefixRange returns the range of every key that starts with prefix.
func PrefixRange(prefix []byte) KeyRange {
	return KeyRange{Start: prefix, End: PrefixEnd(prefix)}
}

// PrefixEnd returns the smallest key greater than every key that starts with
// prefix, or nil when there is none (prefix is empty or all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// ReadRequest selects rows, by key list or by ranges (exactly one of the
// two), and filters them on the server.
type ReadRequest struct {
	// Keys are exact row keys to read. Absent rows are skipped.
	Keys [][]byte
	// Ranges are key ranges to scan; they must not overlap.
	Ranges []KeyRange
	// RowKeyRegex, when not empty, keeps only rows whose whole key matches
	// this RE2 expression, evaluated byte by byte (every byte is one
	// character, bytes above 0x7f written as \xHH), as Bigtable does.
	RowKeyRegex string
	// ColumnStart and ColumnEnd, when ColumnEnd is not nil, keep only cells
	// whose column is in [ColumnStart, ColumnEnd).
	ColumnStart, ColumnEnd []byte
	// CellsPerRow, when positive, keeps only the first CellsPerRow cells
	// (by column) of each row, after the column filter.
	CellsPerRow int
	// Limit, when positive, stops after that many rows. It is only allowed
	// with a single range.
	Limit int
}

// Validate checks the request's shape.
func (r *ReadRequest) Validate() error {
	var errs []error
	if (len(r.Keys) == 0) == (len(r.Ranges) == 0) {
		errs = append(errs, errors.New("exactly one of keys and ranges must be set"))
	}
	if r.Limit > 0 && len(r.Ranges) != 1 {
		errs = append(errs, errors.New("limit needs exactly one range"))
	}
	if r.CellsPerRow < 0 || r.Limit < 0 {
		errs = append(errs, errors.New("negative cells per row or limit"))
	}
	if err := errors.Join(errs...); err != nil {
		return errors.Join(ErrUnsupported, err)
	}
	return nil
}

package tenant

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxLength is the longest tenant ID accepted, in bytes.
const MaxLength = 150

// ID is a validated tenant ID.
type ID string

// String returns the ID as a string.
func (id ID) String() string { return string(id) }

// Sentinel errors returned by [Validate] and [FromContext]. Callers test them
// with errors.Is; every returned error also names the offending ID.
var (
	ErrMissing       = errors.New("no tenant ID")
	ErrTooLong       = fmt.Errorf("tenant ID longer than %d bytes", MaxLength)
	ErrUnsafeChar    = errors.New("tenant ID contains a character outside [a-zA-Z0-9!-_.*'()]")
	ErrReservedValue = errors.New(`tenant ID is "." or ".."`)
)

// safe marks the bytes a tenant ID may contain: the characters that are safe
// in object-store paths and URLs (as in Cortex and Mimir).
var safe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!-_.*'()" {
		t[c] = true
	}
	return t
}()

// Validate reports whether s may be used as a tenant ID.
func Validate(s string) error {
	switch {
	case s == "":
		return ErrMissing
	case len(s) > MaxLength:
		return fmt.Errorf("%w: %d bytes", ErrTooLong, len(s))
	case s == "." || s == "..":
		return ErrReservedValue
	}
	for i := 0; i < len(s); i++ {
		if !safe[s[i]] {
			return fmt.Errorf("%w: %s at byte %d", ErrUnsafeChar, quoteCharAt(s, i), i)
		}
	}
	return nil
}

// quoteCharAt quotes the character that starts at byte i of s: the whole
// rune when the bytes there are valid UTF-8 ('ë', not the first byte read
// as Latin-1), the byte escaped ('\xff') when they are not.
func quoteCharAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("'\\x%02x'", s[i])
	}
	return strconv.QuoteRune(r)
}

// Parse validates s and returns it as an ID.
func Parse(s string) (ID, error) {
	if err := Validate(s); err != nil {
		return "", err
	}
	return ID(s), nil
}

type contextKey struct{}

// WithID returns a copy of ctx that carries id.
func WithID(ctx context.Context, id ID) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the tenant carried by ctx, or ErrMissing.
func FromContext(ctx context.Context) (ID, error) {
	id, ok := ctx.Value(contextKey{}).(ID)
	if !ok || id == "" {
		return "", ErrMissing
	}
	return id, nil
}

// Package ingesterpbtest holds what the tests of the hand-written decoders
// share: [RequireSame], the equality a decode into a reused message must
// have with a fresh decode.
package ingesterpbtest

import (
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// RequireSame is require.Equal with NaN equal to NaN (fuzzed floats are
// any bits) and nil slices still told from empty ones.
func RequireSame(t testing.TB, want, got any) {
	t.Helper()
	if !sameValue(reflect.ValueOf(want), reflect.ValueOf(got)) {
		require.Equal(t, want, got) // fails, with a diff
		t.Fatalf("values differ in nil-ness or NaN:\n%#v\n%#v", want, got)
	}
}

func sameValue(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Float32, reflect.Float64:
		x, y := a.Float(), b.Float()
		return x == y || (math.IsNaN(x) && math.IsNaN(y))
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		if a.Kind() == reflect.Interface && a.Elem().Type() != b.Elem().Type() {
			return false
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	}
	panic("sameValue: unhandled kind " + a.Kind().String())
}

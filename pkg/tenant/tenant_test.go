package tenant

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		id      string
		wantErr error
	}{
		"plain":                {id: "team-a"},
		"all safe punctuation": {id: "a!-_.*'()z"},
		"exactly max length":   {id: strings.Repeat("a", MaxLength)},
		"empty":                {id: "", wantErr: ErrMissing},
		"one byte too long":    {id: strings.Repeat("a", MaxLength+1), wantErr: ErrTooLong},
		"dot":                  {id: ".", wantErr: ErrReservedValue},
		"dot dot":              {id: "..", wantErr: ErrReservedValue},
		"path traversal":       {id: "../etc", wantErr: ErrUnsafeChar},
		"slash":                {id: "a/b", wantErr: ErrUnsafeChar},
		"space":                {id: "a b", wantErr: ErrUnsafeChar},
		"pipe (multi-tenant)":  {id: "a|b", wantErr: ErrUnsafeChar},
		"non-ascii":            {id: "tenänt", wantErr: ErrUnsafeChar},
		"nul byte":             {id: "a\x00", wantErr: ErrUnsafeChar},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Validate(tc.id)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
		})
	}
}

// TestValidateNamesTheCharacter: the error quotes the offending
// character as the client wrote it: a multi-byte one whole (not its first
// byte read as Latin-1, 'Ã' for "tëam"), an invalid byte escaped.
func TestValidateNamesTheCharacter(t *testing.T) {
	for id, want := range map[string]string{
		"tëam":         `'ë' at byte 1`,
		"team-😀":       `'😀' at byte 5`,
		"a/b":          `'/' at byte 1`,
		"a\x00":        `'\x00' at byte 1`,
		"a\xffb":       `'\xff' at byte 1`,
		"a\xc3":        `'\xc3' at byte 1`, // a truncated two-byte character
		"ok\u202eevil": `'\u202e' at byte 2`,
	} {
		t.Run(id, func(t *testing.T) {
			err := Validate(id)
			require.ErrorIs(t, err, ErrUnsafeChar)
			require.True(t, strings.HasSuffix(err.Error(), ": "+want), err.Error())
			require.NotContains(t, err.Error(), "Ã")
		})
	}
}

func TestContextRoundTrip(t *testing.T) {
	_, err := FromContext(context.Background())
	require.ErrorIs(t, err, ErrMissing)
	ctx := WithID(context.Background(), "t1")
	id, err := FromContext(ctx)
	require.NoError(t, err)
	require.Equal(t, ID("t1"), id)
}

func TestTrustHeader(t *testing.T) {
	tests := map[string]struct {
		header     string
		wantStatus int
		wantBody   string
	}{
		"valid":    {header: "team-a", wantStatus: http.StatusOK, wantBody: "team-a"},
		"missing":  {header: "", wantStatus: http.StatusUnauthorized, wantBody: "no tenant ID"},
		"invalid":  {header: "../x", wantStatus: http.StatusBadRequest, wantBody: "outside"},
		"too long": {header: strings.Repeat("x", 151), wantStatus: http.StatusBadRequest, wantBody: "151 bytes"},
	}
	h := TrustHeader(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := FromContext(r.Context())
		require.NoError(t, err)
		_, _ = w.Write([]byte(id))
	}))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			if tc.header != "" {
				req.Header.Set(Header, tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.wantStatus, rec.Code)
			require.Contains(t, rec.Body.String(), tc.wantBody)
		})
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{"", "a", ".", "..", "a/b", strings.Repeat("z", 151), "team-a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := Validate(s); err != nil {
			return
		}
		require.LessOrEqual(t, len(s), MaxLength)
		require.NotContains(t, s, "/")
		require.NotEqual(t, "..", s)
	})
}

package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestParseScope(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want Scope
		err  bool
	}{
		"one scope":                 {in: "write", want: ScopeWrite},
		"several, spaces and order": {in: " read , write,rules", want: ScopeRead | ScopeWrite | ScopeRules},
		"repeated":                  {in: "read,read", want: ScopeRead},
		"empty":                     {in: "", err: true},
		"only commas":               {in: ",,", err: true},
		"admin":                     {in: "write,admin", want: ScopeWrite | ScopeAdmin},
		"unknown":                   {in: "write,superuser", err: true},
		"case matters":              {in: "Write", err: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseScope(tc.in)
			if tc.err {
				require.ErrorIs(t, err, ErrInvalidScope)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestScopeJSONRoundTrip(t *testing.T) {
	b, err := json.Marshal(ScopeRead | ScopeWrite)
	require.NoError(t, err)
	require.JSONEq(t, `["write","read"]`, string(b))
	var s Scope
	require.NoError(t, json.Unmarshal(b, &s))
	require.Equal(t, ScopeRead|ScopeWrite, s)
	require.Error(t, json.Unmarshal([]byte(`["root"]`), &s))
}

func TestParseToken(t *testing.T) {
	id, tok := newToken()
	good := tok.Reveal()
	require.Len(t, good, tokenLen)
	for name, tc := range map[string]struct {
		in     string
		wantID string
	}{
		"fresh key":            {in: good, wantID: id},
		"empty":                {in: ""},
		"no prefix":            {in: strings.Replace(good, "hearth_", "hearth-", 1)},
		"truncated":            {in: good[:len(good)-1]},
		"one byte more":        {in: good + "a"},
		"upper case":           {in: strings.ToUpper(good)},
		"separator moved":      {in: good[:len(tokenPrefix)+idLen-1] + "_" + good[len(tokenPrefix)+idLen-1:len(good)-1]},
		"non-base32 in secret": {in: good[:len(good)-1] + "1"},
		"operator token":       {in: operatorLabel + randomString(secretBytes)},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseToken(tc.in)
			if tc.wantID == "" {
				require.ErrorIs(t, err, ErrMalformedKey)
				require.Equal(t, ErrMalformedKey.Error(), err.Error(), "the error never echoes the input")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantID, got)
		})
	}
}

func TestTokensAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, tok := newToken()
		require.False(t, seen[id])
		seen[id] = true
		require.True(t, ValidKeyID(id))
		_, err := ParseToken(tok.Reveal())
		require.NoError(t, err)
	}
}

// TestSecretNeverPrinted prints a Secret every way a log line, an error or
// /config might.
func TestSecretNeverPrinted(t *testing.T) {
	s := NewSecret("hunter2-very-secret")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("Secret", "s", s, "p", &s)
	js, err := json.Marshal(struct{ S Secret }{s})
	require.NoError(t, err)
	ym, err := yaml.Marshal(struct {
		S Secret `yaml:"s"`
	}{s})
	require.NoError(t, err)
	outs := []string{logs.String(), string(js), string(ym), fmt.Errorf("wrapped %v: %w", s, fmt.Errorf("%s", s)).Error()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, []Secret{s}), fmt.Sprintf(verb, struct{ S Secret }{s}))
	}
	for _, out := range outs {
		require.NotContains(t, out, "hunter2")
	}
	require.Contains(t, logs.String(), redacted)
	require.Contains(t, string(ym), redacted)
	require.Equal(t, "hunter2-very-secret", s.Reveal())

	var back struct {
		S Secret `yaml:"s"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("s: from-file\n"), &back))
	require.Equal(t, "from-file", back.S.Reveal())
}

// TestKeyNeverPrintsItsHash checks a key record's printed forms carry
// neither the hash nor anything of the token.
func TestKeyNeverPrintsItsHash(t *testing.T) {
	c, err := NewKeys(newMem()).Create(t.Context(), CreateRequest{Tenant: "team-a", Name: "prom", Scopes: ScopeWrite})
	require.NoError(t, err)
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("Key", "key", &c.Key, "created", c)
	js, err := json.Marshal(c)
	require.NoError(t, err)
	secretPart := c.Token.Reveal()[len(tokenPrefix)+idLen+1:]
	hash := fmt.Sprintf("%x", c.Key.hash)
	for _, out := range []string{logs.String(), string(js), fmt.Sprintf("%v %+v %s", c, &c.Key, c.Key.String())} {
		require.NotContains(t, out, secretPart)
		require.NotContains(t, out, hash)
	}
	require.Contains(t, logs.String(), c.Key.ID, "the key id is not secret and identifies the key in logs")
}

// FuzzParseToken: the parser never panics, accepts only well-formed keys
// and never echoes its input in an error.
func FuzzParseToken(f *testing.F) {
	_, tok := newToken()
	for _, s := range []string{tok.Reveal(), "", "hearth_", "hearth__", strings.Repeat("a", tokenLen), "hearth_" + strings.Repeat("a", 16) + "_" + strings.Repeat("7", 52)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseToken(s)
		if err != nil {
			require.Equal(t, ErrMalformedKey.Error(), err.Error())
			return
		}
		require.True(t, ValidKeyID(id))
		require.Equal(t, tokenPrefix+id+"_", s[:len(tokenPrefix)+idLen+1])
	})
}

// FuzzRequestCredentials: the Authorization parser never panics, and a
// credential it accepts came from the header.
func FuzzRequestCredentials(f *testing.F) {
	_, tok := newToken()
	for _, s := range []string{"", "Bearer " + tok.Reveal(), "bearer   x", "Basic dGVuYW50OmtleQ==", "Basic !!!", "Basic Og==", "Digest x", "Bearer", "Basic"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r, err := http.NewRequest(http.MethodGet, "http://x/", nil)
		require.NoError(t, err)
		r.Header.Set("Authorization", h)
		token, user, hasUser, ref := requestCredentials(r)
		if ref != nil {
			require.Contains(t, []int{http.StatusUnauthorized}, ref.status)
			require.Empty(t, token)
			return
		}
		if !hasUser {
			require.Empty(t, user)
			require.Contains(t, h, token)
		}
	})
}

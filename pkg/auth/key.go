package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Scope is a set of permissions a key grants, one bit each.
type Scope uint8

// The scopes. A key holds any combination of them.
const (
	// ScopeWrite allows pushing samples (/api/v1/push).
	ScopeWrite Scope = 1 << iota
	// ScopeRead allows queries, labels, series and metadata.
	ScopeRead
	// ScopeRules allows the ruler API.
	ScopeRules

	allScopes = ScopeWrite | ScopeRead | ScopeRules
)

var scopeNames = []struct {
	s    Scope
	name string
}{{ScopeWrite, "write"}, {ScopeRead, "read"}, {ScopeRules, "rules"}}

// ErrInvalidScope is returned by ParseScope for an unknown or empty scope.
var ErrInvalidScope = errors.New("invalid scope")

// ParseScope parses a comma-separated list of scope names ("write,read").
func ParseScope(s string) (Scope, error) {
	var out Scope
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		found := false
		for _, n := range scopeNames {
			if n.name == part {
				out |= n.s
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("%w %q: want write, read or rules", ErrInvalidScope, part)
		}
	}
	if out == 0 {
		return 0, fmt.Errorf("%w: none given", ErrInvalidScope)
	}
	return out, nil
}

// Has reports whether s grants every scope of want.
func (s Scope) Has(want Scope) bool { return s&want == want }

// HasAny reports whether s grants at least one scope of want.
func (s Scope) HasAny(want Scope) bool { return s&want != 0 }

// Alternatives returns the scope names joined by "or" ("read or rules"),
// to say which scopes would do.
func (s Scope) Alternatives() string { return strings.Join(s.Names(), " or ") }

// Names returns the names of s's scopes, in a fixed order.
func (s Scope) Names() []string {
	var out []string
	for _, n := range scopeNames {
		if s&n.s != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String returns the comma-separated scope names.
func (s Scope) String() string { return strings.Join(s.Names(), ",") }

// MarshalJSON writes the scope as a list of names.
func (s Scope) MarshalJSON() ([]byte, error) {
	names := s.Names()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads a list of names.
func (s *Scope) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return err
	}
	v, err := ParseScope(strings.Join(names, ","))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Secret is a credential: an API key, the operator token or the cluster
// secret. Every way of printing it (fmt verbs, JSON, YAML, slog) writes
// "<secret>", or "" when it is empty; only Reveal returns it.
type Secret struct{ s string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{s: s} }

const redacted = "<secret>"

// Reveal returns the secret itself. Call it only to send or store it.
func (s Secret) Reveal() string { return s.s }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.s == "" }

// String returns a marker, never the secret.
func (s Secret) String() string {
	if s.s == "" {
		return ""
	}
	return redacted
}

// Format prints the marker for every verb, %d and %x included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue logs the marker.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON writes the marker.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML writes the marker, so /config never shows a secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML reads the secret from a YAML string.
func (s *Secret) UnmarshalYAML(unmarshal func(any) error) error {
	return unmarshal(&s.s)
}

// Set implements flag.Value.
func (s *Secret) Set(v string) error { s.s = v; return nil }

// equal compares in constant time (for equal lengths; the length of a
// secret is not secret).
func (s Secret) equal(other string) bool {
	return s.s != "" && subtle.ConstantTimeCompare([]byte(s.s), []byte(other)) == 1
}

// Key is the record of one API key. It never holds the key's secret, only
// its hash, which it neither prints nor marshals.
type Key struct {
	Tenant tenant.ID `json:"tenant"`
	ID     string    `json:"id"`
	Name   string    `json:"name,omitempty"`
	Scopes Scope     `json:"scopes"`
	// ReadTenants are tenants besides its own that the key may read
	// (queries, series, labels, metadata, exemplars), alone or together
	// in a federated query ("a|b", with -tenant-federation.enabled). They
	// grant nothing else: pushes and the ruler API stay the key's own
	// tenant's.
	ReadTenants []tenant.ID `json:"read_tenants,omitempty"`
	Created     time.Time   `json:"created"`
	// Expires is when the key stops working; zero means never.
	Expires time.Time `json:"expires,omitzero"`
	// Revoked is when the key was (or, during a rotation's grace, will be)
	// revoked; zero means never.
	Revoked time.Time `json:"revoked,omitzero"`

	hash [sha256.Size]byte
}

// Key states, as State returns them.
const (
	StateActive  = "active"
	StateExpired = "expired"
	StateRevoked = "revoked"
)

// mayAct reports whether the key may act for t with scope: its own tenant
// with any of its scopes, a tenant of ReadTenants only to read.
func (k *Key) mayAct(t tenant.ID, scope Scope) bool {
	return t == k.Tenant || scope == ScopeRead && slices.Contains(k.ReadTenants, t)
}

// State returns the key's state at now.
func (k *Key) State(now time.Time) string {
	switch {
	case !k.Revoked.IsZero() && !now.Before(k.Revoked):
		return StateRevoked
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return StateExpired
	default:
		return StateActive
	}
}

// String names the key without its hash.
func (k *Key) String() string {
	return fmt.Sprintf("key %s of tenant %s", k.ID, k.Tenant)
}

// LogValue logs the key's tenant, id and name.
func (k *Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("tenant", string(k.Tenant)), slog.String("id", k.ID), slog.String("name", k.Name))
}

// matches reports, in constant time, whether token is this key's.
func (k *Key) matches(token string) bool {
	h := hashOf(token)
	return subtle.ConstantTimeCompare(h[:], k.hash[:]) == 1
}

// Token layout: "hearth_" id "_" secret.
const (
	tokenPrefix   = "hearth_"
	idBytes       = 10
	secretBytes   = 32
	idLen         = 16 // base32 of 10 bytes
	secretLen     = 52 // base32 of 32 bytes, unpadded
	tokenLen      = len(tokenPrefix) + idLen + 1 + secretLen
	operatorLabel = "hearth_operator_"
)

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformedKey is returned by ParseToken for a string that is not a
// Hearth API key.
var ErrMalformedKey = errors.New("malformed API key")

// randomString returns n random bytes from crypto/rand in base32.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return b32.EncodeToString(b)
}

// newToken returns a fresh key id and the full key.
func newToken() (id string, token Secret) {
	id = randomString(idBytes)
	return id, NewSecret(tokenPrefix + id + "_" + randomString(secretBytes))
}

// ParseToken checks the shape of an API key and returns its id. It reads
// nothing and never echoes the key in its error.
func ParseToken(token string) (id string, err error) {
	if len(token) != tokenLen || !strings.HasPrefix(token, tokenPrefix) || token[len(tokenPrefix)+idLen] != '_' {
		return "", ErrMalformedKey
	}
	id = token[len(tokenPrefix) : len(tokenPrefix)+idLen]
	if !isBase32(id) || !isBase32(token[len(tokenPrefix)+idLen+1:]) {
		return "", ErrMalformedKey
	}
	return id, nil
}

// ValidKeyID reports whether id has the shape of a key id.
func ValidKeyID(id string) bool { return len(id) == idLen && isBase32(id) }

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

func hashOf(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

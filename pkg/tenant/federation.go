package tenant

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Separator joins the tenants of a federated ID ("a|b"). No tenant ID may
// contain it, so a federated ID is never mistaken for one tenant.
const Separator = "|"

// MaxFederated is the most tenants one federated ID may name.
const MaxFederated = 64

// ErrTooManyTenants is returned by [ParseFederated] for an ID naming more
// than [MaxFederated] tenants.
var ErrTooManyTenants = fmt.Errorf("more than %d tenants in one federated ID", MaxFederated)

// ParseFederated parses one tenant ID or several joined by [Separator]
// ("a|b"): each is validated, and the result lists them sorted and without
// repeats, so "b|a|b" and "a|b" are the same ID (one cache key, one queue).
// One tenant gives a plain ID.
func ParseFederated(s string) (ID, error) {
	if !strings.Contains(s, Separator) {
		return Parse(s)
	}
	parts := strings.Split(s, Separator)
	if len(parts) > MaxFederated {
		return "", fmt.Errorf("%w: %d", ErrTooManyTenants, len(parts))
	}
	for i, p := range parts {
		if err := Validate(p); err != nil {
			return "", fmt.Errorf("tenant %d of %q: %w", i+1, truncate(s), err)
		}
	}
	slices.Sort(parts)
	return ID(strings.Join(slices.Compact(parts), Separator)), nil
}

// Join returns the federated ID of ids, which must be valid tenant IDs.
func Join(ids []ID) ID {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = string(id)
	}
	slices.Sort(parts)
	return ID(strings.Join(slices.Compact(parts), Separator))
}

// Federated reports whether id names more than one tenant.
func (id ID) Federated() bool { return strings.Contains(string(id), Separator) }

// Tenants lists the tenants id names: itself, when it names one.
func (id ID) Tenants() []ID {
	if !id.Federated() {
		return []ID{id}
	}
	parts := strings.Split(string(id), Separator)
	out := make([]ID, len(parts))
	for i, p := range parts {
		out[i] = ID(p)
	}
	return out
}

// ErrFederated is returned by [Single] for a federated ID.
var ErrFederated = errors.New("this API serves one tenant at a time, not a federated query")

// Single returns id when it names one tenant, and an error naming the
// tenants otherwise: for the paths that tenant federation does not cover.
func Single(id ID) (ID, error) {
	if id.Federated() {
		return "", fmt.Errorf("%w (tenants %s)", ErrFederated, truncate(string(id)))
	}
	return id, nil
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

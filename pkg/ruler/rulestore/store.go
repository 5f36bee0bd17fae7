package rulestore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Bounds of what the store writes and reads.
const (
	// MaxNameBytes bounds a namespace's and a group's name, so that a row
	// key (at most 2×(2×512+2) bytes of names plus the tenant) stays well
	// under Bigtable's 4 KiB row-key limit even for names of NUL bytes.
	MaxNameBytes = 512
	// MaxGroupBytes bounds a group's stored YAML. SetGroup refuses a
	// larger group and a read reports a larger cell as corrupt, so a
	// stored row never costs more memory than this to read.
	MaxGroupBytes = 8 << 20
	// MaxListBytes bounds the stored YAML one listing (a tenant's or a
	// namespace's groups) reads; past it the listing fails with
	// [ErrTooLarge] rather than holding more. The per-tenant limits of the
	// rules API keep a tenant far below it.
	MaxListBytes = 256 << 20
)

// Errors of the store. Callers test them with errors.Is.
var (
	// ErrNotFound is returned for a group or namespace that does not
	// exist.
	ErrNotFound = errors.New("rule group not found")
	// ErrInvalidName is returned for an empty namespace or group name, one
	// that is not UTF-8, or one longer than [MaxNameBytes].
	ErrInvalidName = errors.New("invalid rule group name")
	// ErrTooLarge is returned for a group over [MaxGroupBytes] and for a
	// listing over [MaxListBytes].
	ErrTooLarge = errors.New("rule groups too large")
)

// groupColumn is the column of a group row's only cell.
var groupColumn = []byte("g")

// Group is one stored rule group and the namespace it is in.
type Group struct {
	Namespace string
	rulefmt.RuleGroup
}

// Store keeps rule groups per tenant in a wide-column backend. It is safe
// for concurrent use and does not own the backend. Concurrent writes of
// one group leave one of them whole.
type Store struct {
	backend  widecolumn.Backend
	maxBytes int // MaxGroupBytes; tests lower it
}

// New returns a store over backend.
func New(backend widecolumn.Backend) *Store {
	return &Store{backend: backend, maxBytes: MaxGroupBytes}
}

// ValidateName checks a namespace or group name: not empty, UTF-8, at most
// [MaxNameBytes]. It returns an error wrapping [ErrInvalidName] that names
// what (kind: "namespace" or "group") was wrong.
func ValidateName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name is empty", ErrInvalidName, kind)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w: %s name %.40q… is %d bytes, at most %d allowed", ErrInvalidName, kind, name, len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: %s name %q is not valid UTF-8", ErrInvalidName, kind, name)
	}
	return nil
}

// ListTenants returns the tenants that have at least one rule group,
// sorted. It reads one row per tenant.
func (s *Store) ListTenants(ctx context.Context) ([]tenant.ID, error) {
	names, err := widecolumn.Tenants(ctx, s.backend, widecolumn.RuleGroups)
	if err != nil {
		return nil, fmt.Errorf("listing the tenants with rule groups: %w", err)
	}
	out := make([]tenant.ID, len(names))
	for i, n := range names {
		out[i] = tenant.ID(n)
	}
	return out, nil
}

// ListGroups returns every rule group of tenant t, sorted by namespace,
// then group name.
func (s *Store) ListGroups(ctx context.Context, t tenant.ID) ([]Group, error) {
	if t == "" {
		return nil, widecolumn.ErrInvalidTenant
	}
	return s.list(ctx, t, tenantPrefix(t))
}

// ListNamespace returns the rule groups of tenant t in namespace, sorted
// by group name; none is not an error.
func (s *Store) ListNamespace(ctx context.Context, t tenant.ID, namespace string) ([]Group, error) {
	if err := checkNames(t, namespace); err != nil {
		return nil, err
	}
	return s.list(ctx, t, namespacePrefix(t, namespace))
}

// GetGroup returns tenant t's group in namespace, or [ErrNotFound].
func (s *Store) GetGroup(ctx context.Context, t tenant.ID, namespace, group string) (Group, error) {
	if err := checkNames(t, namespace, group); err != nil {
		return Group{}, err
	}
	var (
		out     Group
		found   bool
		readErr error
	)
	err := s.backend.Read(ctx, widecolumn.ReadRequest{Keys: [][]byte{groupKey(t, namespace, group)}}, func(r widecolumn.Row) bool {
		out, readErr = decodeRow(t, r)
		found = readErr == nil
		return false
	})
	if err != nil {
		return Group{}, fmt.Errorf("reading rule group %q of namespace %q: %w", group, namespace, err)
	}
	if readErr != nil {
		return Group{}, readErr
	}
	if !found {
		return Group{}, fmt.Errorf("%w: group %q in namespace %q", ErrNotFound, group, namespace)
	}
	return out, nil
}

// SetGroup writes g into namespace, replacing a group of the same name
// whole. It checks the names and the size, not the rules: validating them
// is the caller's business.
func (s *Store) SetGroup(ctx context.Context, t tenant.ID, namespace string, g rulefmt.RuleGroup) error {
	if err := checkNames(t, namespace, g.Name); err != nil {
		return err
	}
	value, err := yaml.Marshal(&g)
	if err != nil {
		return fmt.Errorf("encoding rule group %q: %w", g.Name, err)
	}
	if len(value) > s.maxBytes {
		return fmt.Errorf("%w: group %q is %d bytes as YAML, at most %d stored", ErrTooLarge, g.Name, len(value), s.maxBytes)
	}
	m := widecolumn.RowMutation{Key: groupKey(t, namespace, g.Name), Cells: []widecolumn.Cell{{Column: groupColumn, Value: value}}}
	if err := s.backend.Apply(ctx, []widecolumn.RowMutation{m}); err != nil {
		return fmt.Errorf("writing rule group %q of namespace %q: %w", g.Name, namespace, err)
	}
	return nil
}

// DeleteGroup deletes tenant t's group in namespace, or returns
// [ErrNotFound] when there is none.
func (s *Store) DeleteGroup(ctx context.Context, t tenant.ID, namespace, group string) error {
	if err := checkNames(t, namespace, group); err != nil {
		return err
	}
	key := groupKey(t, namespace, group)
	if err := s.mustExist(ctx, widecolumn.ReadRequest{Keys: [][]byte{key}}); err != nil {
		return fmt.Errorf("deleting group %q of namespace %q: %w", group, namespace, err)
	}
	// The key ends with a terminator no other key has at that place, so
	// the prefix is this one row.
	if err := s.backend.DropPrefix(ctx, key); err != nil {
		return fmt.Errorf("deleting group %q of namespace %q: %w", group, namespace, err)
	}
	return nil
}

// DeleteNamespace deletes every group of tenant t in namespace, or returns
// [ErrNotFound] when there is none.
func (s *Store) DeleteNamespace(ctx context.Context, t tenant.ID, namespace string) error {
	if err := checkNames(t, namespace); err != nil {
		return err
	}
	prefix := namespacePrefix(t, namespace)
	if err := s.mustExist(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}, Limit: 1, CellsPerRow: 1}); err != nil {
		return fmt.Errorf("deleting namespace %q: %w", namespace, err)
	}
	if err := s.backend.DropPrefix(ctx, prefix); err != nil {
		return fmt.Errorf("deleting namespace %q: %w", namespace, err)
	}
	return nil
}

// mustExist returns [ErrNotFound] when req selects no row.
func (s *Store) mustExist(ctx context.Context, req widecolumn.ReadRequest) error {
	found := false
	if err := s.backend.Read(ctx, req, func(widecolumn.Row) bool {
		found = true
		return false
	}); err != nil {
		return err
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// list reads every group under prefix, within [MaxListBytes].
func (s *Store) list(ctx context.Context, t tenant.ID, prefix []byte) ([]Group, error) {
	var (
		out     []Group
		total   int
		readErr error
	)
	err := s.backend.Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}}, func(r widecolumn.Row) bool {
		for _, c := range r.Cells {
			total += len(c.Value)
		}
		if total > MaxListBytes {
			readErr = fmt.Errorf("%w: the rule groups of tenant %s are over %d bytes", ErrTooLarge, t, MaxListBytes)
			return false
		}
		var g Group
		if g, readErr = decodeRow(t, r); readErr != nil {
			return false
		}
		out = append(out, g)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("listing the rule groups of tenant %s: %w", t, err)
	}
	if readErr != nil {
		return nil, readErr
	}
	// Backends may return batches in any order.
	slices.SortFunc(out, func(a, b Group) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// checkNames checks the tenant, the namespace and the group names given
// (none for a namespace-wide call).
func checkNames(t tenant.ID, namespace string, group ...string) error {
	if t == "" {
		return widecolumn.ErrInvalidTenant
	}
	if err := ValidateName("namespace", namespace); err != nil {
		return err
	}
	for _, g := range group {
		if err := ValidateName("group", g); err != nil {
			return err
		}
	}
	return nil
}

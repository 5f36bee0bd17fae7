package auth

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Backend is the part of widecolumn.Backend the key store uses. The Pebble
// and Bigtable backends implement it; see the package documentation for
// the rows written.
type Backend interface {
	Apply(ctx context.Context, muts []widecolumn.RowMutation) error
	Read(ctx context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error
	DropPrefix(ctx context.Context, prefix []byte) error
}

// Errors of the key store. Callers test them with errors.Is.
var (
	// ErrKeyNotFound is returned for a key id that does not exist, or that
	// belongs to another tenant than the one named.
	ErrKeyNotFound = errors.New("API key not found")
	// ErrInvalidRequest is returned for a create or rotate request that
	// cannot succeed (no scope, expiry in the past, over-long name).
	ErrInvalidRequest = errors.New("invalid key request")
)

var (
	recordColumn  = []byte("k")
	revokedColumn = []byte("r")
)

// MaxNameLength bounds a key's name.
const MaxNameLength = 200

// Keys stores API keys in a Backend. It is safe for concurrent use and does
// not own the backend.
type Keys struct {
	backend Backend
	now     func() time.Time
}

// NewKeys returns a key store over backend.
func NewKeys(backend Backend) *Keys {
	return &Keys{backend: backend, now: time.Now}
}

// CreateRequest describes a key to create.
type CreateRequest struct {
	Tenant tenant.ID
	Name   string
	Scopes Scope
	// ReadTenants are other tenants the key may read (Key.ReadTenants);
	// they need the read scope.
	ReadTenants []tenant.ID
	// Expires, when not zero, is when the key stops working.
	Expires time.Time
}

// Created is a new key: its record and, this once, its secret.
type Created struct {
	Key   Key
	Token Secret
}

// Create makes a key and stores its record. The returned token is the only
// copy of the key: the store keeps its hash.
func (s *Keys) Create(ctx context.Context, req CreateRequest) (Created, error) {
	if err := tenant.Validate(string(req.Tenant)); err != nil {
		return Created{}, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	now := s.now().UTC()
	var errs []error
	if req.Scopes == 0 || req.Scopes&^allScopes != 0 {
		errs = append(errs, fmt.Errorf("%w: scopes must be some of write, read, rules", ErrInvalidRequest))
	}
	if !req.Expires.IsZero() && !req.Expires.After(now) {
		errs = append(errs, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalidRequest, req.Expires.Format(time.RFC3339)))
	}
	errs = append(errs, checkReadTenants(req)...)
	if len(req.Name) > MaxNameLength {
		errs = append(errs, fmt.Errorf("%w: name longer than %d bytes", ErrInvalidRequest, MaxNameLength))
	}
	if err := errors.Join(errs...); err != nil {
		return Created{}, err
	}
	id, token := newToken()
	k := Key{Tenant: req.Tenant, ID: id, Name: req.Name, Scopes: req.Scopes, ReadTenants: normalTenants(req.ReadTenants), Created: now, Expires: req.Expires.UTC()}
	k.hash = hashOf(token.Reveal())
	rec, err := json.Marshal(storedRecord{Version: 1, Key: k, Hash: hex.EncodeToString(k.hash[:])})
	if err != nil {
		return Created{}, fmt.Errorf("encoding key record: %w", err)
	}
	// The tenant row first: a key row without its tenant row could not be
	// listed or deleted with the tenant.
	if err := s.backend.Apply(ctx, []widecolumn.RowMutation{{Key: tenantRow(req.Tenant), Cells: []widecolumn.Cell{{Column: []byte(id)}}}}); err != nil {
		return Created{}, fmt.Errorf("writing tenant row of key %s: %w", id, err)
	}
	if err := s.backend.Apply(ctx, []widecolumn.RowMutation{{Key: keyRow(id), Cells: []widecolumn.Cell{{Column: recordColumn, Value: rec}}}}); err != nil {
		return Created{}, fmt.Errorf("writing key %s: %w", id, err)
	}
	return Created{Key: k, Token: token}, nil
}

// IDs returns the id of every key in the store, revoked and expired ones
// included, in one scan of the key rows.
func (s *Keys) IDs(ctx context.Context) ([]string, error) {
	var ids []string
	prefix := widecolumn.APIKeys.AppendPrefix(nil)
	err := s.backend.Read(ctx, widecolumn.ReadRequest{
		Ranges:      []widecolumn.KeyRange{widecolumn.APIKeys.Range()},
		ColumnStart: recordColumn, ColumnEnd: widecolumn.PrefixEnd(recordColumn), CellsPerRow: 1,
	}, func(r widecolumn.Row) bool {
		if id := string(r.Key[len(prefix):]); ValidKeyID(id) {
			ids = append(ids, id)
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("listing API key ids: %w", err)
	}
	return ids, nil
}

// Get reads the records of ids; absent ids are missing from the result.
func (s *Keys) Get(ctx context.Context, ids ...string) (map[string]*Key, error) {
	out := make(map[string]*Key, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows := make([][]byte, 0, len(ids))
	for _, id := range ids {
		rows = append(rows, keyRow(id))
	}
	var decodeErr error
	err := s.backend.Read(ctx, widecolumn.ReadRequest{Keys: rows}, func(r widecolumn.Row) bool {
		k, err := decodeKeyRow(r)
		if err != nil {
			decodeErr = err
			return false
		}
		if k != nil {
			out[k.ID] = k
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading keys: %w", err)
	}
	if decodeErr != nil {
		return nil, decodeErr
	}
	return out, nil
}

// List returns tenant's keys, revoked and expired ones included, sorted by
// creation time.
func (s *Keys) List(ctx context.Context, t tenant.ID) ([]*Key, error) {
	ids, err := s.tenantKeyIDs(ctx, t)
	if err != nil {
		return nil, err
	}
	got, err := s.Get(ctx, ids...)
	if err != nil {
		return nil, err
	}
	out := make([]*Key, 0, len(got))
	for _, k := range got {
		if k.Tenant == t {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *Key) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return compareStrings(a.ID, b.ID)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Revoke revokes tenant's key id at the time at (now when zero). Revoking
// an already revoked key keeps the earlier time.
func (s *Keys) Revoke(ctx context.Context, t tenant.ID, id string, at time.Time) (*Key, error) {
	k, err := s.get(ctx, t, id)
	if err != nil {
		return nil, err
	}
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	if !k.Revoked.IsZero() && !k.Revoked.After(at) {
		return k, nil
	}
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(at.UnixNano()))
	if err := s.backend.Apply(ctx, []widecolumn.RowMutation{{Key: keyRow(id), Cells: []widecolumn.Cell{{Column: revokedColumn, Value: v[:]}}}}); err != nil {
		return nil, fmt.Errorf("revoking key %s: %w", id, err)
	}
	k.Revoked = at
	return k, nil
}

// RotateRequest describes a rotation.
type RotateRequest struct {
	Tenant tenant.ID
	ID     string
	// Grace is how long the old key keeps working. Zero revokes it now.
	Grace time.Duration
	// Expires, when not zero, is the new key's expiry. When zero the new
	// key gets the old key's lifetime (expiry minus creation), or none.
	Expires time.Time
}

// Rotate creates a key with the old key's tenant, name and scopes, and
// revokes the old one after the grace period.
func (s *Keys) Rotate(ctx context.Context, req RotateRequest) (Created, error) {
	old, err := s.get(ctx, req.Tenant, req.ID)
	if err != nil {
		return Created{}, err
	}
	now := s.now()
	if old.State(now) != StateActive {
		return Created{}, fmt.Errorf("%w: key %s is %s", ErrInvalidRequest, req.ID, old.State(now))
	}
	if req.Grace < 0 {
		return Created{}, fmt.Errorf("%w: negative grace %s", ErrInvalidRequest, req.Grace)
	}
	expires := req.Expires
	if expires.IsZero() && !old.Expires.IsZero() {
		expires = now.Add(old.Expires.Sub(old.Created))
	}
	created, err := s.Create(ctx, CreateRequest{Tenant: old.Tenant, Name: old.Name, Scopes: old.Scopes, ReadTenants: old.ReadTenants, Expires: expires})
	if err != nil {
		return Created{}, err
	}
	if _, err := s.Revoke(ctx, old.Tenant, old.ID, now.Add(req.Grace)); err != nil {
		return Created{}, fmt.Errorf("new key %s created, but %w", created.Key.ID, err)
	}
	return created, nil
}

// DeleteTenant deletes every key of tenant t and returns their ids, so
// callers can drop them from caches.
func (s *Keys) DeleteTenant(ctx context.Context, t tenant.ID) ([]string, error) {
	ids, err := s.tenantKeyIDs(ctx, t)
	if err != nil {
		return nil, err
	}
	// The namespace's rule drops every key its tenant row lists, then the
	// row: the same step as a tenant deletion of the whole table.
	if err := widecolumn.APIKeyTenants.DeleteTenant(ctx, s.backend, string(t)); err != nil {
		return nil, fmt.Errorf("deleting the keys of tenant %s: %w", t, err)
	}
	return ids, nil
}

// get returns tenant's key id, or ErrKeyNotFound.
func (s *Keys) get(ctx context.Context, t tenant.ID, id string) (*Key, error) {
	if !ValidKeyID(id) {
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	k, ok := got[id]
	if !ok || k.Tenant != t {
		return nil, fmt.Errorf("%w: %s of tenant %s", ErrKeyNotFound, id, t)
	}
	return k, nil
}

func (s *Keys) tenantKeyIDs(ctx context.Context, t tenant.ID) ([]string, error) {
	var ids []string
	err := s.backend.Read(ctx, widecolumn.ReadRequest{Keys: [][]byte{tenantRow(t)}}, func(r widecolumn.Row) bool {
		for _, c := range r.Cells {
			if ValidKeyID(string(c.Column)) {
				ids = append(ids, string(c.Column))
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("reading the keys of tenant %s: %w", t, err)
	}
	return ids, nil
}

// storedRecord is the JSON of the "k" cell.
type storedRecord struct {
	Version int `json:"v"`
	Key
	Hash string `json:"sha256"`
}

func decodeKeyRow(r widecolumn.Row) (*Key, error) {
	var (
		rec     *storedRecord
		revoked time.Time
	)
	for _, c := range r.Cells {
		switch string(c.Column) {
		case string(recordColumn):
			rec = &storedRecord{}
			if err := json.Unmarshal(c.Value, rec); err != nil {
				return nil, fmt.Errorf("%w: key row %q: %w", widecolumn.ErrCorrupt, r.Key, err)
			}
		case string(revokedColumn):
			if len(c.Value) != 8 {
				return nil, fmt.Errorf("%w: key row %q: revocation of %d bytes", widecolumn.ErrCorrupt, r.Key, len(c.Value))
			}
			revoked = time.Unix(0, int64(binary.BigEndian.Uint64(c.Value))).UTC()
		}
	}
	if rec == nil {
		// A revocation without its record: the record's write failed.
		return nil, nil
	}
	h, err := hex.DecodeString(rec.Hash)
	if err != nil || len(h) != len(rec.Key.hash) || rec.Version != 1 {
		return nil, fmt.Errorf("%w: key row %q: bad hash or version", widecolumn.ErrCorrupt, r.Key)
	}
	k := rec.Key
	copy(k.hash[:], h)
	if !revoked.IsZero() {
		k.Revoked = revoked
	}
	return &k, nil
}

// keyRow is the key of id's row in namespace widecolumn.APIKeys.
func keyRow(id string) []byte { return widecolumn.APIKeys.AppendID(nil, id) }

// tenantRow is the key of t's key list in namespace
// widecolumn.APIKeyTenants.
func tenantRow(t tenant.ID) []byte { return widecolumn.APIKeyTenants.AppendTenant(nil, string(t)) }

// checkReadTenants reports what is wrong with a create request's read
// grants: each must be a valid tenant other than the key's own, and they
// need the read scope.
func checkReadTenants(req CreateRequest) []error {
	if len(req.ReadTenants) == 0 {
		return nil
	}
	var errs []error
	if !req.Scopes.Has(ScopeRead) {
		errs = append(errs, fmt.Errorf("%w: read_tenants grant reads and need the read scope", ErrInvalidRequest))
	}
	if len(req.ReadTenants) >= tenant.MaxFederated {
		errs = append(errs, fmt.Errorf("%w: %d read_tenants, at most %d", ErrInvalidRequest, len(req.ReadTenants), tenant.MaxFederated-1))
	}
	for _, t := range req.ReadTenants {
		if err := tenant.Validate(string(t)); err != nil {
			errs = append(errs, fmt.Errorf("%w: read_tenants: %w", ErrInvalidRequest, err))
		} else if t == req.Tenant {
			errs = append(errs, fmt.Errorf("%w: read_tenants: %s is the key's own tenant", ErrInvalidRequest, t))
		}
	}
	return errs
}

// normalTenants sorts ts and drops repeats; nil stays nil.
func normalTenants(ts []tenant.ID) []tenant.ID {
	if len(ts) == 0 {
		return nil
	}
	out := slices.Clone(ts)
	slices.Sort(out)
	return slices.Compact(out)
}

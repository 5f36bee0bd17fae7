package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// maxAdminBody bounds a request body of the admin API.
const maxAdminBody = 64 << 10

// AdminDeps are the admin API's dependencies.
type AdminDeps struct {
	Keys *Keys
	// Auth, when set, forgets changed keys at once, so this process
	// enforces a revocation immediately.
	Auth *Authenticator
	// DeleteTenant, when set, deletes a tenant's data (store rows,
	// ingester heads) once its keys are gone.
	DeleteTenant func(ctx context.Context, t tenant.ID) error
	Logger       *slog.Logger
}

// CreateKeyRequest is the body of POST /admin/tenants/{tenant}/keys.
type CreateKeyRequest struct {
	Name   string `json:"name,omitempty"`
	Scopes Scope  `json:"scopes"`
	// ReadTenants are other tenants the key may read (Key.ReadTenants).
	ReadTenants []tenant.ID `json:"read_tenants,omitempty"`
	// ExpiresIn is a duration ("720h", "30d"); empty means never.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// RotateKeyRequest is the body of POST /admin/tenants/{tenant}/keys/{id}/rotate.
type RotateKeyRequest struct {
	// Grace is how long the old key keeps working ("1h"); empty revokes
	// it at once.
	Grace string `json:"grace,omitempty"`
	// ExpiresIn is the new key's lifetime; empty keeps the old key's.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// KeyView is a key as the admin API shows it: its record and state,
// never its secret or hash.
type KeyView struct {
	Key
	State string `json:"state"`
}

// CreatedKey is the answer to a create or rotate: the key's record and,
// this once, the key itself.
type CreatedKey struct {
	Key   KeyView `json:"key"`
	Token string  `json:"token"`
}

// KeyList is the answer to GET /admin/tenants/{tenant}/keys.
type KeyList struct {
	Keys []KeyView `json:"keys"`
}

type admin struct {
	AdminDeps
}

// NewAdminHandler returns the key and tenant management API, to mount on
// the internal listener behind Authenticator.Operator:
//
//	POST   /admin/tenants/{tenant}/keys              create (201, CreatedKey)
//	GET    /admin/tenants/{tenant}/keys              list (KeyList, no secrets)
//	DELETE /admin/tenants/{tenant}/keys/{id}         revoke (204)
//	POST   /admin/tenants/{tenant}/keys/{id}/rotate  rotate (201, CreatedKey)
//	POST   /admin/tenants/{tenant}/delete            delete the tenant's keys, then its data (204)
//
// Tenant deletion is a POST to its own path rather than DELETE on the
// tenant: a ServeMux answers a path holding ".." with a method-preserving
// redirect to the cleaned path, so "DELETE .../keys/.." would otherwise
// become "DELETE /admin/tenants/{tenant}" for a client that follows it.
func NewAdminHandler(d AdminDeps) http.Handler {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	a := &admin{d}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/tenants/{tenant}/keys", a.create)
	mux.HandleFunc("GET /admin/tenants/{tenant}/keys", a.list)
	mux.HandleFunc("DELETE /admin/tenants/{tenant}/keys/{id}", a.revoke)
	mux.HandleFunc("POST /admin/tenants/{tenant}/keys/{id}/rotate", a.rotate)
	mux.HandleFunc("POST /admin/tenants/{tenant}/delete", a.deleteTenant)
	return mux
}

func (a *admin) create(w http.ResponseWriter, r *http.Request) {
	t, ok := pathTenant(w, r)
	if !ok {
		return
	}
	var req CreateKeyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	expires, err := expiryFrom(req.ExpiresIn)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, err := a.Keys.Create(r.Context(), CreateRequest{Tenant: t, Name: req.Name, Scopes: req.Scopes, ReadTenants: req.ReadTenants, Expires: expires})
	if err != nil {
		writeError(w, err)
		return
	}
	a.Logger.Info("API key created", "tenant", string(t), "key_id", c.Key.ID, "name", c.Key.Name, "scopes", c.Key.Scopes.String(), "read_tenants", c.Key.ReadTenants)
	writeJSON(w, http.StatusCreated, CreatedKey{Key: view(c.Key), Token: c.Token.Reveal()})
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	t, ok := pathTenant(w, r)
	if !ok {
		return
	}
	keys, err := a.Keys.List(r.Context(), t)
	if err != nil {
		writeError(w, err)
		return
	}
	out := KeyList{Keys: make([]KeyView, 0, len(keys))}
	for _, k := range keys {
		out.Keys = append(out.Keys, view(*k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) revoke(w http.ResponseWriter, r *http.Request) {
	t, ok := pathTenant(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if _, err := a.Keys.Revoke(r.Context(), t, id, time.Time{}); err != nil {
		writeError(w, err)
		return
	}
	a.invalidate(id)
	a.Logger.Info("API key revoked", "tenant", string(t), "key_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (a *admin) rotate(w http.ResponseWriter, r *http.Request) {
	t, ok := pathTenant(w, r)
	if !ok {
		return
	}
	var req RotateKeyRequest
	if !decodeBody(w, r, &req) {
		return
	}
	var grace time.Duration
	if req.Grace != "" {
		g, err := model.ParseDuration(req.Grace)
		if err != nil {
			http.Error(w, fmt.Sprintf("grace %q: %v", req.Grace, err), http.StatusBadRequest)
			return
		}
		grace = time.Duration(g)
	}
	expires, err := expiryFrom(req.ExpiresIn)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	c, err := a.Keys.Rotate(r.Context(), RotateRequest{Tenant: t, ID: id, Grace: grace, Expires: expires})
	if err != nil {
		writeError(w, err)
		return
	}
	a.invalidate(id)
	a.Logger.Info("API key rotated", "tenant", string(t), "key_id", id, "new_key_id", c.Key.ID, "grace", grace)
	writeJSON(w, http.StatusCreated, CreatedKey{Key: view(c.Key), Token: c.Token.Reveal()})
}

func (a *admin) deleteTenant(w http.ResponseWriter, r *http.Request) {
	t, ok := pathTenant(w, r)
	if !ok {
		return
	}
	ids, err := a.Keys.DeleteTenant(r.Context(), t)
	if err != nil {
		writeError(w, err)
		return
	}
	a.invalidate(ids...)
	if a.DeleteTenant != nil {
		if err := a.DeleteTenant(r.Context(), t); err != nil {
			writeError(w, fmt.Errorf("keys deleted, deleting data: %w", err))
			return
		}
	}
	a.Logger.Info("Tenant deleted", "tenant", string(t), "keys", len(ids))
	w.WriteHeader(http.StatusNoContent)
}

func (a *admin) invalidate(ids ...string) {
	if a.Auth != nil {
		a.Auth.Invalidate(ids...)
	}
}

func view(k Key) KeyView { return KeyView{Key: k, State: k.State(time.Now())} }

// pathTenant validates the {tenant} path segment: traversal ("..") and
// over-long IDs stop here.
func pathTenant(w http.ResponseWriter, r *http.Request) (tenant.ID, bool) {
	t, err := tenant.Parse(r.PathValue("tenant"))
	if err != nil {
		http.Error(w, "tenant: "+err.Error(), http.StatusBadRequest)
		return "", false
	}
	return t, true
}

func expiryFrom(in string) (time.Time, error) {
	if in == "" {
		return time.Time{}, nil
	}
	d, err := model.ParseDuration(in)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("expires_in %q: want a positive duration such as 720h or 30d", in)
	}
	return time.Now().Add(time.Duration(d)), nil
}

func decodeBody(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "decoding the request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, ErrKeyNotFound):
		status = http.StatusNotFound
	case errors.Is(err, ErrInvalidRequest):
		status = http.StatusBadRequest
	}
	http.Error(w, err.Error(), status)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

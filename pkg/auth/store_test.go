package auth

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

func TestKeys(t *testing.T) {
	for name, newBackend := range map[string]func(testing.TB) Backend{
		"pebble":   func(t testing.TB) Backend { return newPebble(t) },
		"bigtable": func(t testing.TB) Backend { return newBigtable(t) },
		"memory":   func(testing.TB) Backend { return newMem() },
	} {
		t.Run(name, func(t *testing.T) { testKeys(t, newBackend(t)) })
	}
}

func testKeys(t *testing.T, b Backend) {
	ctx := context.Background()
	keys := NewKeys(b)

	t.Run("create stores only a hash, get reads it back", func(t *testing.T) {
		c, err := keys.Create(ctx, CreateRequest{Tenant: "team-a", Name: "prometheus", Scopes: ScopeWrite})
		require.NoError(t, err)
		got, err := keys.Get(ctx, c.Key.ID, "aaaaaaaaaaaaaaaa")
		require.NoError(t, err)
		require.Len(t, got, 1)
		k := got[c.Key.ID]
		require.Equal(t, tenant.ID("team-a"), k.Tenant)
		require.Equal(t, "prometheus", k.Name)
		require.Equal(t, ScopeWrite, k.Scopes)
		require.WithinDuration(t, time.Now(), k.Created, time.Minute)
		require.True(t, k.matches(c.Token.Reveal()))
		require.False(t, k.matches(flipLast(c.Token.Reveal())))
		require.Equal(t, StateActive, k.State(time.Now()))
	})

	t.Run("invalid requests report every problem", func(t *testing.T) {
		_, err := keys.Create(ctx, CreateRequest{Tenant: "t", Scopes: 0, Expires: time.Now().Add(-time.Hour), Name: string(make([]byte, MaxNameLength+1))})
		require.ErrorIs(t, err, ErrInvalidRequest)
		require.ErrorContains(t, err, "scopes")
		require.ErrorContains(t, err, "expiry")
		require.ErrorContains(t, err, "name")
		_, err = keys.Create(ctx, CreateRequest{Tenant: "../etc", Scopes: ScopeRead})
		require.ErrorIs(t, err, tenant.ErrUnsafeChar)
	})

	t.Run("list is per tenant and revoke marks the key", func(t *testing.T) {
		a1 := mustCreate(t, keys, "list-a", ScopeRead)
		a2 := mustCreate(t, keys, "list-a", ScopeWrite|ScopeRead)
		b1 := mustCreate(t, keys, "list-ab", ScopeRead) // "list-a" is a prefix of "list-ab"
		list, err := keys.List(ctx, "list-a")
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.ElementsMatch(t, []string{a1.Key.ID, a2.Key.ID}, []string{list[0].ID, list[1].ID})

		_, err = keys.Revoke(ctx, "list-a", b1.Key.ID, time.Time{})
		require.ErrorIs(t, err, ErrKeyNotFound, "a tenant cannot revoke another tenant's key")
		_, err = keys.Revoke(ctx, "list-a", "not-an-id", time.Time{})
		require.ErrorIs(t, err, ErrKeyNotFound)

		k, err := keys.Revoke(ctx, "list-a", a1.Key.ID, time.Time{})
		require.NoError(t, err)
		require.Equal(t, StateRevoked, k.State(time.Now()))
		got, err := keys.Get(ctx, a1.Key.ID)
		require.NoError(t, err)
		require.Equal(t, StateRevoked, got[a1.Key.ID].State(time.Now()))
		// Revoking again keeps the first time.
		k2, err := keys.Revoke(ctx, "list-a", a1.Key.ID, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.Equal(t, k.Revoked, k2.Revoked)
	})

	t.Run("expiry", func(t *testing.T) {
		c, err := keys.Create(ctx, CreateRequest{Tenant: "exp", Scopes: ScopeRead, Expires: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		got, err := keys.Get(ctx, c.Key.ID)
		require.NoError(t, err)
		k := got[c.Key.ID]
		require.Equal(t, StateActive, k.State(time.Now()))
		require.Equal(t, StateExpired, k.State(time.Now().Add(time.Hour+time.Second)))
	})

	t.Run("rotate creates a twin and revokes the old key after the grace", func(t *testing.T) {
		old, err := keys.Create(ctx, CreateRequest{Tenant: "rot", Name: "grafana", Scopes: ScopeRead, Expires: time.Now().Add(48 * time.Hour)})
		require.NoError(t, err)
		c, err := keys.Rotate(ctx, RotateRequest{Tenant: "rot", ID: old.Key.ID, Grace: time.Hour})
		require.NoError(t, err)
		require.NotEqual(t, old.Key.ID, c.Key.ID)
		require.Equal(t, "grafana", c.Key.Name)
		require.Equal(t, ScopeRead, c.Key.Scopes)
		require.WithinDuration(t, time.Now().Add(48*time.Hour), c.Key.Expires, time.Minute, "the new key gets the old one's lifetime")
		got, err := keys.Get(ctx, old.Key.ID)
		require.NoError(t, err)
		require.Equal(t, StateActive, got[old.Key.ID].State(time.Now()), "still valid during the grace")
		require.Equal(t, StateRevoked, got[old.Key.ID].State(time.Now().Add(time.Hour+time.Second)))

		now, err := keys.Rotate(ctx, RotateRequest{Tenant: "rot", ID: c.Key.ID})
		require.NoError(t, err)
		got, err = keys.Get(ctx, c.Key.ID, now.Key.ID)
		require.NoError(t, err)
		require.Equal(t, StateRevoked, got[c.Key.ID].State(time.Now()), "no grace revokes at once")
		_, err = keys.Rotate(ctx, RotateRequest{Tenant: "rot", ID: c.Key.ID})
		require.ErrorIs(t, err, ErrInvalidRequest, "a revoked key cannot be rotated")
	})

	t.Run("delete tenant drops its keys only", func(t *testing.T) {
		a := mustCreate(t, keys, "del", ScopeRead)
		b := mustCreate(t, keys, "del2", ScopeRead)
		ids, err := keys.DeleteTenant(ctx, "del")
		require.NoError(t, err)
		require.Equal(t, []string{a.Key.ID}, ids)
		got, err := keys.Get(ctx, a.Key.ID, b.Key.ID)
		require.NoError(t, err)
		require.NotContains(t, got, a.Key.ID)
		require.Contains(t, got, b.Key.ID)
		list, err := keys.List(ctx, "del")
		require.NoError(t, err)
		require.Empty(t, list)
	})
}

// TestKeyRowsInTheirNamespaces runs the key store on a table holding a row
// of every namespace for two tenants: key rows are in the namespaces
// package widecolumn gives API keys, the table's tenant deletion drops a
// tenant's keys with the rest of its rows, and the key store's own
// deletion drops only the keys.
func TestKeyRowsInTheirNamespaces(t *testing.T) {
	ctx := context.Background()
	b := newPebble(t)
	keys := NewKeys(b)
	for _, tn := range []string{"a", "b"} {
		require.NoError(t, b.Apply(ctx, widecolumntest.TenantRows(tn)))
	}
	ka := mustCreate(t, keys, "a", ScopeRead)
	kb := mustCreate(t, keys, "b", ScopeRead)
	byNS := widecolumntest.RowsByNamespace(widecolumntest.Dump(t, b))
	require.NotContains(t, byNS, "", "every key row is in a namespace")
	require.Contains(t, byNS[widecolumn.APIKeys.Name()], string(widecolumn.APIKeys.AppendID(nil, ka.Key.ID)))
	require.Contains(t, byNS[widecolumn.APIKeyTenants.Name()], string(widecolumn.APIKeyTenants.AppendTenant(nil, "a")))
	require.Equal(t, idLen, widecolumn.APIKeys.IDLen(), "the namespace drops ids of the length keys have")

	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "a"))
	got, err := keys.Get(ctx, ka.Key.ID, kb.Key.ID)
	require.NoError(t, err)
	require.NotContains(t, got, ka.Key.ID, "deleting a tenant from the table deletes its keys")
	require.Contains(t, got, kb.Key.ID)
	list, err := keys.List(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, list)

	before := widecolumntest.RowsByNamespace(widecolumntest.Dump(t, b))
	_, err = keys.DeleteTenant(ctx, "b")
	require.NoError(t, err)
	after := widecolumntest.RowsByNamespace(widecolumntest.Dump(t, b))
	require.Len(t, before[widecolumn.APIKeys.Name()], 2)
	for ns, rows := range before {
		switch ns {
		case widecolumn.APIKeys.Name(), widecolumn.APIKeyTenants.Name():
			// b's key list names the key and the sample row.
			require.Empty(t, after[ns], "the key store drops b's keys and key list")
		default:
			require.Equal(t, rows, after[ns], "deleting a tenant's keys keeps its other rows")
		}
	}
}

// TestReadsRowsOfTheOldKeyLayout writes key rows with the byte layout
// pkg/auth used before the namespaces moved to package widecolumn (the
// literal prefixes below), and reads, lists, revokes and deletes them.
func TestReadsRowsOfTheOldKeyLayout(t *testing.T) {
	ctx := context.Background()
	for name, b := range map[string]Backend{"pebble": newPebble(t), "memory": newMem()} {
		t.Run(name, func(t *testing.T) {
			const id = "abcdefghijklmnop"
			rec := `{"v":1,"tenant":"t1","id":"` + id + `","name":"old","scopes":["read"],"created":"2026-01-02T03:04:05Z","sha256":"` + strings.Repeat("ab", 32) + `"}`
			require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{
				{Key: []byte("\x00auth/tenant/\x02t1"), Cells: []widecolumn.Cell{{Column: []byte(id)}}},
				{Key: []byte("\x00auth/key/" + id), Cells: []widecolumn.Cell{{Column: []byte("k"), Value: []byte(rec)}}},
			}))
			keys := NewKeys(b)
			list, err := keys.List(ctx, "t1")
			require.NoError(t, err)
			require.Len(t, list, 1)
			require.Equal(t, id, list[0].ID)
			require.Equal(t, "old", list[0].Name)
			require.Equal(t, ScopeRead, list[0].Scopes)
			_, err = keys.Revoke(ctx, "t1", id, time.Time{})
			require.NoError(t, err)
			ids, err := keys.DeleteTenant(ctx, "t1")
			require.NoError(t, err)
			require.Equal(t, []string{id}, ids)
			got, err := keys.Get(ctx, id)
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTenants(t *testing.T) {
	ctx := context.Background()
	keys := NewKeys(newPebble(t))
	got, err := keys.Tenants(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	mustCreate(t, keys, "team-b", ScopeWrite)
	a1 := mustCreate(t, keys, "team-a", ScopeWrite)
	mustCreate(t, keys, "team-a", ScopeRead)
	mustCreate(t, keys, "gone", ScopeRead)
	_, err = keys.Revoke(ctx, "team-a", a1.Key.ID, time.Time{})
	require.NoError(t, err)
	_, err = keys.DeleteTenant(ctx, "gone")
	require.NoError(t, err)

	got, err = keys.Tenants(ctx)
	require.NoError(t, err)
	require.Equal(t, []TenantKeys{{Tenant: "team-a", Keys: 2}, {Tenant: "team-b", Keys: 1}}, got)
}

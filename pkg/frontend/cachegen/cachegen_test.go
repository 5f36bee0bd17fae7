package cachegen

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
)

func TestGenerations(t *testing.T) {
	ctx := context.Background()
	for name, open := range map[string]func(testing.TB) widecolumn.Backend{
		"pebble":   func(t testing.TB) widecolumn.Backend { return backendtest.NewPebble(t) },
		"bigtable": func(t testing.TB) widecolumn.Backend { return backendtest.NewBigtable(t) },
	} {
		t.Run(name, func(t *testing.T) {
			b := open(t)
			clock := time.Unix(1000, 0)
			now := func() time.Time { return clock }
			g := New(b, time.Second, now)
			other := New(b, time.Second, now) // another frontend

			gen, err := g.Get(ctx, "a")
			require.NoError(t, err)
			require.Zero(t, gen, "no bump yet")

			bumped, err := other.Bump(ctx, "a")
			require.NoError(t, err)
			require.Greater(t, bumped, gen)

			gen, err = g.Get(ctx, "a")
			require.NoError(t, err)
			require.Zero(t, gen, "cached for the TTL")
			clock = clock.Add(time.Second)
			gen, err = g.Get(ctx, "a")
			require.NoError(t, err)
			require.Equal(t, bumped, gen, "another frontend's bump seen after the TTL")

			gb, err := g.Get(ctx, "ab")
			require.NoError(t, err)
			require.Zero(t, gb, "tenant ab is not tenant a")

			// Tenant deletion keeps the generation and bumps it: it never
			// goes back, even with a clock that went back.
			require.NoError(t, widecolumn.DeleteTenant(ctx, b, "a"))
			clock = time.Unix(1, 0)
			require.NoError(t, other.DeleteTenant(ctx, "a"))
			fresh := New(b, time.Second, now)
			after, err := fresh.Get(ctx, "a")
			require.NoError(t, err)
			require.Greater(t, after, bumped)

			_, err = g.Get(ctx, "")
			require.ErrorIs(t, err, widecolumn.ErrInvalidTenant)
		})
	}
}

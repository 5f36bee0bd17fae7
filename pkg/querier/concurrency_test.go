package querier

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

type fixedLimits struct{ l limits.Limits }

func (f fixedLimits) For(tenant.ID) *limits.Limits { return &f.l }

func TestTenantSlotsBoundConcurrentQueries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newTenantSlots(fixedLimits{limits.Limits{MaxConcurrentQueries: 2}})
		ctx := context.Background()
		r1, err := s.acquire(ctx, "a")
		require.NoError(t, err)
		r2, err := s.acquire(ctx, "a")
		require.NoError(t, err)

		// Another tenant is not held up by a's queries.
		rb, err := s.acquire(ctx, "b")
		require.NoError(t, err)
		rb()

		// A third query of a waits until one of the two ends.
		got := make(chan func(), 1)
		go func() {
			r, err := s.acquire(ctx, "a")
			if err == nil {
				got <- r
			}
		}()
		synctest.Wait()
		require.Empty(t, got, "the third query must wait")
		r1()
		synctest.Wait()
		r3 := <-got
		r2()
		r3()

		// A waiting query whose client gives up gets the context's error.
		r1, _ = s.acquire(ctx, "a")
		r2, _ = s.acquire(ctx, "a")
		cctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { _, err := s.acquire(cctx, "a"); errc <- err }()
		synctest.Wait()
		cancel()
		require.ErrorIs(t, <-errc, context.Canceled)
		r1()
		r2()
		require.Empty(t, s.running)
	})
}

func TestTenantSlotsUnlimited(t *testing.T) {
	s := newTenantSlots(fixedLimits{})
	for range 100 {
		_, err := s.acquire(context.Background(), "a")
		require.NoError(t, err)
	}
}

package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/internal/kvtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const codec = "kvtest.Map"

func set(name string, version int64, value string) kv.UpdateFunc {
	return func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		return kvtest.Map{name: {Version: version, Value: value}}, false, nil
	}
}

func TestStoreUpdate(t *testing.T) {
	s := New()
	v, _ := s.Get("k")
	require.Nil(t, v)

	ch, err := s.Update(t.Context(), "k", codec, set("a", 1, "x"))
	require.NoError(t, err)
	require.Equal(t, kvtest.Map{"a": {Version: 1, Value: "x"}}, ch.Value)

	ch, err = s.Update(t.Context(), "k", codec, set("a", 1, "x"))
	require.NoError(t, err)
	require.Nil(t, ch, "no change")

	ch, err = s.Update(t.Context(), "k", codec, set("b", 1, "y"))
	require.NoError(t, err)
	require.Equal(t, kvtest.Map{"b": {Version: 1, Value: "y"}}, ch.Value, "only the change")

	v, _ = s.Get("k")
	require.Equal(t, kvtest.Map{"a": {Version: 1, Value: "x"}, "b": {Version: 1, Value: "y"}}, v)

	// The value handed out is a clone.
	v.(kvtest.Map)["c"] = kvtest.Register{}
	v, _ = s.Get("k")
	require.NotContains(t, v, "c")

	_, err = s.Update(t.Context(), "k", "other-codec", set("a", 2, "z"))
	require.ErrorContains(t, err, "codec")

	boom := errors.New("boom")
	_, err = s.Update(t.Context(), "k", codec, func(kv.Mergeable) (kv.Mergeable, bool, error) { return nil, false, boom })
	require.ErrorIs(t, err, boom)

	calls := 0
	_, err = s.Update(t.Context(), "k", codec, func(kv.Mergeable) (kv.Mergeable, bool, error) { calls++; return nil, true, boom })
	require.ErrorIs(t, err, kv.ErrTooManyRetries)
	require.ErrorIs(t, err, boom)
	require.Equal(t, maxUpdateRetries, calls)
}

// TestStoreUpdateRetriesOnRace: an update whose value changed between read
// and write runs again with the new value.
func TestStoreUpdateRetriesOnRace(t *testing.T) {
	s := New()
	_, err := s.Update(t.Context(), "k", codec, set("a", 1, "x"))
	require.NoError(t, err)
	var seen []int
	_, err = s.Update(t.Context(), "k", codec, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		seen = append(seen, len(old.(kvtest.Map)))
		if len(seen) == 1 {
			// Another writer sneaks in.
			_, err := s.Update(context.Background(), "k", codec, set("b", 1, "y"))
			require.NoError(t, err)
		}
		return kvtest.Map{"c": {Version: 1}}, false, nil
	})
	require.NoError(t, err)
	require.Equal(t, []int{1, 2}, seen)
}

func TestStoreConcurrentUpdates(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				_, err := s.Update(t.Context(), "k", codec, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
					return kvtest.Map{string(rune('a' + i)): {Version: int64(j)}}, false, nil
				})
				if err != nil && !errors.Is(err, kv.ErrTooManyRetries) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	v, _ := s.Get("k")
	require.Len(t, v, 8)
}

func TestStoreWatch(t *testing.T) {
	s := New()
	ctx, cancel := context.WithCancel(t.Context())
	seen := make(chan kv.Mergeable, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, "k", func(v kv.Mergeable) bool {
			seen <- v
			return len(v.(kvtest.Map)) < 2
		})
	}()
	_, err := s.Update(t.Context(), "k", codec, set("a", 1, "x"))
	require.NoError(t, err)
	require.Equal(t, kvtest.Map{"a": {Version: 1, Value: "x"}}, <-seen)
	_, err = s.Update(t.Context(), "k", codec, set("b", 1, "x"))
	require.NoError(t, err)
	require.Len(t, <-seen, 2)
	<-done // f returned false
	cancel()

	// A watcher started later sees the current value first; cancelling
	// ends it.
	ctx, cancel = context.WithCancel(t.Context())
	done = make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, "k", func(v kv.Mergeable) bool { seen <- v; return true })
	}()
	require.Len(t, <-seen, 2)
	cancel()
	<-done
}

func TestStoreRemoveTombstones(t *testing.T) {
	s := New()
	now := time.UnixMilli(10_000)
	_, err := s.Merge("k", codec, kvtest.Map{
		"old":   {Version: 1_000, Deleted: true},
		"new":   {Version: 9_000, Deleted: true},
		"alive": {Version: 1},
	})
	require.NoError(t, err)
	require.Equal(t, 1, s.RemoveTombstones(now.Add(-5*time.Second)))
	v, _ := s.Get("k")
	require.Equal(t, kvtest.Map{"new": {Version: 9_000, Deleted: true}, "alive": {Version: 1}}, v)
}

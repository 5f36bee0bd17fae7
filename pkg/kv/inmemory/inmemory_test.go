package inmemory

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/internal/kvtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClientsShareValues(t *testing.T) {
	k := New()
	a, b := k.Client(kvtest.Codec{}), k.Client(kvtest.Codec{})
	require.NoError(t, a.Update(t.Context(), "key", func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		require.Nil(t, old)
		return kvtest.Map{"x": {Version: 1, Value: "v"}}, false, nil
	}))
	v, err := b.Get(t.Context(), "key")
	require.NoError(t, err)
	require.Equal(t, kvtest.Map{"x": {Version: 1, Value: "v"}}, v)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan kv.Mergeable, 1)
	go b.WatchKey(ctx, "key", func(v kv.Mergeable) bool { got <- v; return false })
	require.Equal(t, kvtest.Map{"x": {Version: 1, Value: "v"}}, <-got)
}

// A value the codec cannot encode fails the update, as it would on the wire.
func TestUpdateGoesThroughTheCodec(t *testing.T) {
	c := New().Client(kvtest.Codec{})
	err := c.Update(t.Context(), "key", func(kv.Mergeable) (kv.Mergeable, bool, error) {
		return badValue{}, false, nil
	})
	require.ErrorContains(t, err, "encoding key")
}

type badValue struct{ kvtest.Map }

func (badValue) MarshalJSON() ([]byte, error) { return nil, context.Canceled }

package inmemory

import (
	"context"
	"fmt"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/internal/store"
)

// KV is an in-process store shared by the clients made from it.
type KV struct {
	store *store.Store
}

// New returns an empty store.
func New() *KV { return &KV{store: store.New()} }

// Client returns a client for values encoded with codec.
func (k *KV) Client(codec kv.Codec) kv.Client {
	return &client{store: k.store, codec: codec}
}

type client struct {
	store *store.Store
	codec kv.Codec
}

var _ kv.Client = (*client)(nil)

func (c *client) Get(_ context.Context, key string) (kv.Mergeable, error) {
	v, _ := c.store.Get(key)
	return v, nil
}

func (c *client) Update(ctx context.Context, key string, f kv.UpdateFunc) error {
	_, err := c.store.Update(ctx, key, c.codec.ID(), func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		updated, retry, err := f(old)
		if err != nil || updated == nil {
			return updated, retry, err
		}
		// Go through the codec as the wire would.
		b, err := c.codec.Encode(updated)
		if err != nil {
			return nil, false, fmt.Errorf("encoding %s: %w", key, err)
		}
		decoded, err := c.codec.Decode(b)
		if err != nil {
			return nil, false, fmt.Errorf("decoding %s: %w", key, err)
		}
		return decoded, false, nil
	})
	return err
}

func (c *client) WatchKey(ctx context.Context, key string, f func(kv.Mergeable) bool) {
	c.store.Watch(ctx, key, f)
}

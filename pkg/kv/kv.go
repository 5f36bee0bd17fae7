package kv

import (
	"context"
	"errors"
	"time"
)

// Mergeable is a value that replicas converge on by merging.
//
// Merge must be idempotent (a.Merge(a) changes nothing), commutative and
// associative, so the order in which gossip delivers updates does not
// matter. Values are not safe for concurrent use: the KV serialises calls
// on the values it stores and hands callers clones.
type Mergeable interface {
	// Merge merges other into the receiver and returns the change: a value
	// holding only what other brought that the receiver did not have, or
	// nil when the receiver did not change. Merging the change into the
	// receiver's previous value gives the receiver's new value. Merge must
	// not keep references into other that other's owner may still modify.
	Merge(other Mergeable) (change Mergeable, err error)
	// MergeContent names the parts of the value (for a ring, the instance
	// IDs). A change whose content covers another's supersedes it in the
	// gossip queue.
	MergeContent() []string
	// RemoveTombstones drops the tombstones older than limit and reports how
	// many entries the value has and how many were removed.
	RemoveTombstones(limit time.Time) (total, removed int)
	// Clone returns a deep copy.
	Clone() Mergeable
}

// Codec encodes and decodes the values of one type.
type Codec interface {
	// ID names the codec on the wire; it must be unique per value type.
	ID() string
	// Encode returns the wire form of v.
	Encode(v Mergeable) ([]byte, error)
	// Decode parses b. It must not panic on any input, and the value must
	// not alias b.
	Decode(b []byte) (Mergeable, error)
}

// UpdateFunc computes a key's new value from its current one (nil when the
// key has no value yet). old is a clone the function may modify and return.
// Returning a nil value leaves the key unchanged. When err is not nil and
// retry is true, the update is tried again with a fresh value.
//
// The returned value is merged into the stored one, so only the parts that
// win the merge take effect: for a ring, an instance entry must carry a newer
// heartbeat than the stored one.
type UpdateFunc func(old Mergeable) (updated Mergeable, retry bool, err error)

// Client reads and updates the keys of one value type. Implementations are
// safe for concurrent use.
type Client interface {
	// Get returns a clone of the key's value, or nil when it has none.
	Get(ctx context.Context, key string) (Mergeable, error)
	// Update changes the key's value with f, retrying when another update
	// raced with it. It fails with ErrTooManyRetries when the races never
	// stop.
	Update(ctx context.Context, key string, f UpdateFunc) error
	// WatchKey calls f with the key's value (a clone f may keep), first with
	// the current value when there is one, then after every change. Changes
	// that happen while f runs are coalesced into one call with the latest
	// value. It returns when f returns false or ctx ends. f must not call
	// WatchKey.
	WatchKey(ctx context.Context, key string, f func(Mergeable) bool)
}

// ErrTooManyRetries is returned by [Client.Update] when concurrent updates
// kept invalidating the value it read.
var ErrTooManyRetries = errors.New("too many retries of a concurrent update")

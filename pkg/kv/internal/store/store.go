// Package store is the local state shared by the KV implementations: the
// current value of every key, versions for compare-and-swap updates, and
// watchers.
package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hearthmetrics/hearth/pkg/kv"
)

// maxUpdateRetries bounds how often one Update re-reads a value that another
// update changed under it.
const maxUpdateRetries = 10

// Store holds the values of every key. It is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	values   map[string]*entry
	watchers map[string]map[*watcher]struct{}
}

type entry struct {
	value   kv.Mergeable
	codecID string
	version uint64
}

type watcher struct {
	notify chan struct{}
}

// Change is what an update or a merge changed in one key.
type Change struct {
	Key     string
	CodecID string
	Value   kv.Mergeable // only the changed parts; callers may keep it
}

// New returns an empty store.
func New() *Store {
	return &Store{values: map[string]*entry{}, watchers: map[string]map[*watcher]struct{}{}}
}

// Get returns a clone of the key's value (nil when absent) and its version.
func (s *Store) Get(key string) (kv.Mergeable, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.values[key]
	if !ok {
		return nil, 0
	}
	return e.value.Clone(), e.version
}

// Update runs a compare-and-swap update on key: f sees a clone of the current
// value, and its result is merged into the stored value unless another change
// happened in between, in which case f runs again. It returns the change, or
// nil when nothing changed.
func (s *Store) Update(ctx context.Context, key, codecID string, f kv.UpdateFunc) (*Change, error) {
	var lastErr error
	for range maxUpdateRetries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		old, version := s.Get(key)
		updated, retry, err := f(old)
		if err != nil {
			if retry {
				lastErr = err
				continue
			}
			return nil, err
		}
		if updated == nil {
			return nil, nil
		}
		ch, ok, err := s.merge(key, codecID, updated, version, true)
		if err != nil {
			return nil, err
		}
		if ok {
			return ch, nil
		}
		lastErr = kv.ErrTooManyRetries
	}
	if errors.Is(lastErr, kv.ErrTooManyRetries) {
		return nil, fmt.Errorf("updating %s: %w", key, lastErr)
	}
	return nil, fmt.Errorf("updating %s: %w: %w", key, kv.ErrTooManyRetries, lastErr)
}

// Merge merges a value received from elsewhere into key and returns the
// change, or nil when nothing changed. v must not be used by the caller
// afterwards.
func (s *Store) Merge(key, codecID string, v kv.Mergeable) (*Change, error) {
	ch, _, err := s.merge(key, codecID, v, 0, false)
	return ch, err
}

// merge merges v into key. With checkVersion it does nothing and reports
// ok=false when key's version is no longer version.
func (s *Store) merge(key, codecID string, v kv.Mergeable, version uint64, checkVersion bool) (ch *Change, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, exists := s.values[key]
	cur := uint64(0)
	if exists {
		cur = e.version
	}
	if checkVersion && cur != version {
		return nil, false, nil
	}
	var change kv.Mergeable
	if !exists {
		e = &entry{value: v, codecID: codecID}
		s.values[key] = e
		change = v.Clone()
	} else {
		if e.codecID != codecID {
			return nil, true, fmt.Errorf("merging %s: codec %q, the stored value has codec %q", key, codecID, e.codecID)
		}
		change, err = e.value.Merge(v)
		if err != nil {
			return nil, true, fmt.Errorf("merging %s: %w", key, err)
		}
		if change == nil {
			return nil, true, nil
		}
	}
	e.version++
	s.notifyLocked(key)
	return &Change{Key: key, CodecID: codecID, Value: change}, true, nil
}

func (s *Store) notifyLocked(key string) {
	for w := range s.watchers[key] {
		select {
		case w.notify <- struct{}{}:
		default: // a notification is pending already; it will see this change
		}
	}
}

// RemoveTombstones removes the tombstones older than limit from every value
// and returns how many were removed. Watchers are notified of values that
// changed.
func (s *Store) RemoveTombstones(limit time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, e := range s.values {
		if _, removed := e.value.RemoveTombstones(limit); removed > 0 {
			n += removed
			e.version++
			s.notifyLocked(key)
		}
	}
	return n
}

// Snapshot calls f with every key, its codec and a clone of its value.
func (s *Store) Snapshot(f func(key, codecID string, v kv.Mergeable)) {
	type kvPair struct {
		key, codec string
		v          kv.Mergeable
	}
	s.mu.Lock()
	pairs := make([]kvPair, 0, len(s.values))
	for k, e := range s.values {
		pairs = append(pairs, kvPair{k, e.codecID, e.value.Clone()})
	}
	s.mu.Unlock()
	for _, p := range pairs {
		f(p.key, p.codec, p.v)
	}
}

// Watch implements [kv.Client.WatchKey].
func (s *Store) Watch(ctx context.Context, key string, f func(kv.Mergeable) bool) {
	w := &watcher{notify: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.watchers[key] == nil {
		s.watchers[key] = map[*watcher]struct{}{}
	}
	s.watchers[key][w] = struct{}{}
	if _, ok := s.values[key]; ok {
		w.notify <- struct{}{}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers[key], w)
		if len(s.watchers[key]) == 0 {
			delete(s.watchers, key)
		}
		s.mu.Unlock()
	}()

	for {
		select {
		case <-ctx.Done():
			return
		case <-w.notify:
		}
		v, _ := s.Get(key)
		if v == nil {
			continue
		}
		if !f(v) {
			return
		}
	}
}

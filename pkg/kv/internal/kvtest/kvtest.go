// Package kvtest is a small CRDT for the KV's own tests: a map of
// last-writer-wins registers keyed by name, with deletion tombstones.
package kvtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hearthmetrics/hearth/pkg/kv"
)

// Register is one entry: the highest Version wins; ties go to the larger
// Value, so merge is a join on a total order.
type Register struct {
	Version int64  `json:"v"`
	Value   string `json:"s"`
	// Deleted marks a tombstone; Version is then its time in Unix ms.
	Deleted bool `json:"d,omitempty"`
}

func (r Register) greater(o Register) bool {
	if r.Version != o.Version {
		return r.Version > o.Version
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return r.Value > o.Value
}

// Map is a [kv.Mergeable] of registers.
type Map map[string]Register

var _ kv.Mergeable = Map(nil)

// Merge implements [kv.Mergeable].
func (m Map) Merge(other kv.Mergeable) (kv.Mergeable, error) {
	o, ok := other.(Map)
	if !ok {
		return nil, fmt.Errorf("merging %T into kvtest.Map", other)
	}
	change := Map{}
	for k, r := range o {
		if cur, ok := m[k]; !ok || r.greater(cur) {
			m[k] = r
			change[k] = r
		}
	}
	if len(change) == 0 {
		return nil, nil
	}
	return change, nil
}

// MergeContent implements [kv.Mergeable].
func (m Map) MergeContent() []string { return slices.Sorted(maps.Keys(m)) }

// RemoveTombstones implements [kv.Mergeable].
func (m Map) RemoveTombstones(limit time.Time) (total, removed int) {
	for k, r := range m {
		if r.Deleted && r.Version < limit.UnixMilli() {
			delete(m, k)
			removed++
		}
	}
	return len(m), removed
}

// Clone implements [kv.Mergeable].
func (m Map) Clone() kv.Mergeable { return maps.Clone(m) }

// Codec encodes a Map as JSON.
type Codec struct{}

// ID implements [kv.Codec].
func (Codec) ID() string { return "kvtest.Map" }

// Encode implements [kv.Codec].
func (Codec) Encode(v kv.Mergeable) ([]byte, error) { return json.Marshal(v) }

// Decode implements [kv.Codec].
func (Codec) Decode(b []byte) (kv.Mergeable, error) {
	m := Map{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

package hatracker

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Key is the KV key holding every election.
const Key = "ha-tracker"

// Election is the elected replica of one tenant's HA cluster.
type Election struct {
	// Replica is the elected replica's name (the replica label's value).
	Replica string `json:"replica"`
	// ElectedAt is when the replica was elected, in Unix milliseconds.
	ElectedAt int64 `json:"elected_at"`
	// UpdatedAt is when a distributor last recorded a push from the
	// replica, in Unix milliseconds; it is refreshed at most every
	// -distributor.ha-tracker.update-timeout. For a tombstone, it is the
	// deletion time.
	UpdatedAt int64 `json:"updated_at"`
	// Deleted marks a tombstone: the cluster sent nothing for a long time.
	Deleted bool `json:"deleted,omitempty"`
}

// wins says whether e replaces o in a merge. It is a total order on
// (ElectedAt, Replica, UpdatedAt, Deleted): the newest election wins, ties go
// to the greater replica name, and within one election the latest update
// (or its deletion) wins. Merging by a total order makes the merge a join:
// idempotent, commutative and associative, so distributors that saw the
// same elections in any order agree on the winner.
func (e Election) wins(o Election) bool {
	if e.ElectedAt != o.ElectedAt {
		return e.ElectedAt > o.ElectedAt
	}
	if e.Replica != o.Replica {
		return e.Replica > o.Replica
	}
	if e.UpdatedAt != o.UpdatedAt {
		return e.UpdatedAt > o.UpdatedAt
	}
	return e.Deleted && !o.Deleted
}

// Elections maps "<tenant>/<cluster>" to its election; it is the KV value
// under [Key]. Tenant IDs contain no "/", so the first one separates.
type Elections map[string]Election

var _ kv.Mergeable = Elections(nil)

// electionKey is the map key of a tenant's cluster.
func electionKey(t tenant.ID, cluster string) string { return string(t) + "/" + cluster }

// splitKey is electionKey's inverse.
func splitKey(k string) (tenant.ID, string) {
	t, c, _ := strings.Cut(k, "/")
	return tenant.ID(t), c
}

// Merge implements [kv.Mergeable].
func (m Elections) Merge(other kv.Mergeable) (kv.Mergeable, error) {
	o, ok := other.(Elections)
	if !ok {
		return nil, fmt.Errorf("merging %T into hatracker.Elections", other)
	}
	change := Elections{}
	for k, e := range o {
		if cur, ok := m[k]; !ok || e.wins(cur) {
			m[k] = e
			change[k] = e
		}
	}
	if len(change) == 0 {
		return nil, nil
	}
	return change, nil
}

// MergeContent implements [kv.Mergeable].
func (m Elections) MergeContent() []string { return slices.Sorted(maps.Keys(m)) }

// RemoveTombstones implements [kv.Mergeable].
func (m Elections) RemoveTombstones(limit time.Time) (total, removed int) {
	for k, e := range m {
		if e.Deleted && e.UpdatedAt < limit.UnixMilli() {
			delete(m, k)
			removed++
		}
	}
	return len(m), removed
}

// Clone implements [kv.Mergeable].
func (m Elections) Clone() kv.Mergeable { return maps.Clone(m) }

// Codec encodes [Elections] as JSON: the value is small (one entry per HA
// cluster) and changes at most every update timeout per cluster.
type Codec struct{}

var _ kv.Codec = Codec{}

// ID implements [kv.Codec].
func (Codec) ID() string { return "hatracker.Elections" }

// Encode implements [kv.Codec].
func (Codec) Encode(v kv.Mergeable) ([]byte, error) { return json.Marshal(v) }

// Decode implements [kv.Codec].
func (Codec) Decode(b []byte) (kv.Mergeable, error) {
	m := Elections{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding HA elections: %w", err)
	}
	return m, nil
}

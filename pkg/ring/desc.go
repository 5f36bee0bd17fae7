package ring

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Short names for the instance states.
const (
	Pending = ringpb.InstanceState_INSTANCE_STATE_PENDING
	Joining = ringpb.InstanceState_INSTANCE_STATE_JOINING
	Active  = ringpb.InstanceState_INSTANCE_STATE_ACTIVE
	Leaving = ringpb.InstanceState_INSTANCE_STATE_LEAVING
	Left    = ringpb.InstanceState_INSTANCE_STATE_LEFT
)

// StateName returns the short name of a state ("ACTIVE").
func StateName(s ringpb.InstanceState) string {
	switch s {
	case Pending:
		return "PENDING"
	case Joining:
		return "JOINING"
	case Active:
		return "ACTIVE"
	case Leaving:
		return "LEAVING"
	case Left:
		return "LEFT"
	}
	return fmt.Sprintf("STATE_%d", int32(s))
}

// Desc is the ring descriptor as a CRDT ([kv.Mergeable]): a map of
// instances in which, per instance, the entry with the newer heartbeat wins.
// Ties are broken by a total order over the whole entry in which a LEFT
// tombstone beats every other state, so merge is a join of a semilattice:
// idempotent, commutative and associative.
//
// An instance that leaves becomes a LEFT tombstone (without tokens) that
// beats its older entries wherever they still circulate, and is removed by
// [Desc.RemoveTombstones] once older than -memberlist.left-instances-timeout.
// An instance that comes back with a newer heartbeat replaces its tombstone.
//
// Every writer must give its entry a heartbeat newer than the stored one;
// [Desc.Forget] and the [Lifecycler] do.
type Desc struct {
	ringpb.Desc
}

var _ kv.Mergeable = (*Desc)(nil)

// NewDesc returns an empty descriptor.
func NewDesc() *Desc {
	return &Desc{ringpb.Desc{Instances: map[string]ringpb.InstanceDesc{}}}
}

// stateRank orders states for ties between equal heartbeats: LEFT wins,
// then the states further along the lifecycle.
func stateRank(s ringpb.InstanceState) int {
	switch s {
	case Pending:
		return 0
	case Joining:
		return 1
	case Active:
		return 2
	case Leaving:
		return 3
	case Left:
		return 100
	}
	return 4 + int(s) // unknown states from newer versions, still ordered
}

// compareInstances is a total order over instance entries: heartbeat first,
// then state, then every other field.
func compareInstances(a, b *ringpb.InstanceDesc) int {
	if c := cmp.Compare(a.HeartbeatUnixMs, b.HeartbeatUnixMs); c != 0 {
		return c
	}
	if c := cmp.Compare(stateRank(a.State), stateRank(b.State)); c != 0 {
		return c
	}
	if c := cmp.Compare(a.RegisteredUnixMs, b.RegisteredUnixMs); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Id, b.Id); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Addr, b.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.HttpAddr, b.HttpAddr); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Zone, b.Zone); c != 0 {
		return c
	}
	return slices.Compare(a.Tokens, b.Tokens)
}

// cloneInstance returns a copy of in that shares no memory with it.
func cloneInstance(in ringpb.InstanceDesc) ringpb.InstanceDesc {
	return ringpb.InstanceDesc{
		Id:               in.Id,
		Addr:             in.Addr,
		HeartbeatUnixMs:  in.HeartbeatUnixMs,
		State:            in.State,
		Tokens:           slices.Clip(slices.Clone(in.Tokens)),
		Zone:             in.Zone,
		RegisteredUnixMs: in.RegisteredUnixMs,
		HttpAddr:         in.HttpAddr,
	}
}

// Merge implements [kv.Mergeable]: every instance of other whose entry is
// greater than the receiver's (newer heartbeat, then the tie-breaks of the
// total order) replaces it. The change holds the replaced entries.
func (d *Desc) Merge(other kv.Mergeable) (kv.Mergeable, error) {
	o, ok := other.(*Desc)
	if !ok {
		return nil, fmt.Errorf("merging a %T into a ring descriptor", other)
	}
	if o == nil {
		return nil, nil
	}
	if d.Instances == nil {
		d.Instances = map[string]ringpb.InstanceDesc{}
	}
	var change *Desc
	for id, in := range o.Instances {
		in.Id = id // the map key is the identity
		if cur, ok := d.Instances[id]; ok && compareInstances(&in, &cur) <= 0 {
			continue
		}
		in = cloneInstance(in)
		d.Instances[id] = in
		if change == nil {
			change = NewDesc()
		}
		change.Instances[id] = in
	}
	if change == nil {
		return nil, nil // a typed nil would not compare equal to nil
	}
	return change, nil
}

// MergeContent implements [kv.Mergeable]: the instance IDs.
func (d *Desc) MergeContent() []string {
	return slices.Sorted(maps.Keys(d.Instances))
}

// RemoveTombstones implements [kv.Mergeable]: it removes the LEFT entries
// whose heartbeat is older than limit.
func (d *Desc) RemoveTombstones(limit time.Time) (total, removed int) {
	for id, in := range d.Instances {
		if in.State == Left && in.HeartbeatUnixMs < limit.UnixMilli() {
			delete(d.Instances, id)
			removed++
		}
	}
	return len(d.Instances), removed
}

// Clone implements [kv.Mergeable].
func (d *Desc) Clone() kv.Mergeable {
	c := NewDesc()
	for id, in := range d.Instances {
		c.Instances[id] = cloneInstance(in)
	}
	return c
}

// nextHeartbeat is a heartbeat for a new entry of an instance whose stored
// entry has heartbeat prev: now, or just after prev when the clock has not
// moved past it, so the new entry always wins the merge.
func nextHeartbeat(now time.Time, prev int64) int64 {
	return max(now.UnixMilli(), prev+1)
}

// Forget replaces the instance's entry with a LEFT tombstone so every ring
// drops it. An instance still alive comes back with its next heartbeat. It
// reports whether the instance was in the descriptor.
func (d *Desc) Forget(id string, now time.Time) bool {
	cur, ok := d.Instances[id]
	if !ok || cur.State == Left {
		return false
	}
	d.Instances[id] = tombstone(cur, now)
	return true
}

// tombstone is the LEFT entry that replaces in.
func tombstone(in ringpb.InstanceDesc, now time.Time) ringpb.InstanceDesc {
	return ringpb.InstanceDesc{
		Id:               in.Id,
		Addr:             in.Addr,
		Zone:             in.Zone,
		State:            Left,
		HeartbeatUnixMs:  nextHeartbeat(now, in.HeartbeatUnixMs),
		RegisteredUnixMs: in.RegisteredUnixMs,
	}
}

// Codec returns the codec of ring descriptors, shared by every ring: create
// the KV client of a ring with it.
func Codec() kv.Codec { return codec{} }

type codec struct{}

func (codec) ID() string { return "hearth.ring.v1.Desc" }

func (codec) Encode(v kv.Mergeable) ([]byte, error) {
	d, ok := v.(*Desc)
	if !ok {
		return nil, fmt.Errorf("encoding a %T as a ring descriptor", v)
	}
	return d.Desc.Marshal()
}

func (codec) Decode(b []byte) (kv.Mergeable, error) {
	d := NewDesc()
	if err := d.Desc.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("decoding a ring descriptor: %w", err)
	}
	if d.Instances == nil {
		d.Instances = map[string]ringpb.InstanceDesc{}
	}
	for id, in := range d.Instances {
		// Normalise what the ring relies on: the key is the ID, tokens sorted.
		in.Id = id
		if !slices.IsSorted(in.Tokens) {
			slices.Sort(in.Tokens)
		}
		if len(in.Tokens) == 0 {
			in.Tokens = nil
		}
		in.XXX_unrecognized = nil
		d.Instances[id] = in
	}
	return d, nil
}

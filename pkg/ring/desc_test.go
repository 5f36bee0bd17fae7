package ring

import (
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// genDesc is a random descriptor drawn from small domains, so that inputs
// share instance IDs and heartbeats and the tie-breaks get exercised.
type genDesc struct{ *Desc }

func (genDesc) Generate(r *rand.Rand, _ int) reflect.Value {
	d := NewDesc()
	ids := []string{"a", "b", "c", "d"}
	states := []ringpb.InstanceState{Pending, Joining, Active, Leaving, Left}
	for _, id := range ids {
		if r.Intn(3) == 0 {
			continue
		}
		in := ringpb.InstanceDesc{
			Id:               id,
			HeartbeatUnixMs:  int64(r.Intn(3)),
			State:            states[r.Intn(len(states))],
			Addr:             []string{"10.0.0.1:9095", "10.0.0.2:9095"}[r.Intn(2)],
			Zone:             []string{"", "z1"}[r.Intn(2)],
			RegisteredUnixMs: int64(r.Intn(2)),
		}
		for range r.Intn(3) {
			in.Tokens = append(in.Tokens, uint32(r.Intn(4)))
		}
		d.Instances[id] = in
	}
	return reflect.ValueOf(genDesc{d})
}

// merged returns a.Merge(b) on clones.
func merged(t *testing.T, a, b *Desc) *Desc {
	t.Helper()
	x := a.Clone().(*Desc)
	_, err := x.Merge(b.Clone())
	require.NoError(t, err)
	return x
}

// equalDescs compares descriptors by content.
func equalDescs(a, b *Desc) bool {
	return reflect.DeepEqual(a.Clone(), b.Clone())
}

func TestDescMergeLaws(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	laws := map[string]any{
		"idempotent": func(a genDesc) bool {
			x := a.Clone().(*Desc)
			change, err := x.Merge(a.Clone())
			return err == nil && change == nil && equalDescs(x, a.Desc)
		},
		"commutative": func(a, b genDesc) bool {
			return equalDescs(merged(t, a.Desc, b.Desc), merged(t, b.Desc, a.Desc))
		},
		"associative": func(a, b, c genDesc) bool {
			left := merged(t, merged(t, a.Desc, b.Desc), c.Desc)
			right := merged(t, a.Desc, merged(t, b.Desc, c.Desc))
			return equalDescs(left, right)
		},
		"the change applied to the old value gives the new value": func(a, b genDesc) bool {
			x := a.Clone().(*Desc)
			change, err := x.Merge(b.Clone())
			if err != nil {
				return false
			}
			if change == nil {
				return equalDescs(x, a.Desc)
			}
			y := a.Clone().(*Desc)
			_, err = y.Merge(change)
			return err == nil && equalDescs(x, y)
		},
		"the merge absorbs both inputs": func(a, b genDesc) bool {
			m := merged(t, a.Desc, b.Desc)
			ca, _ := m.Clone().Merge(a.Clone())
			cb, _ := m.Clone().Merge(b.Clone())
			return ca == nil && cb == nil
		},
		"the codec round-trips": func(a genDesc) bool {
			b, err := Codec().Encode(a.Desc)
			if err != nil {
				return false
			}
			v, err := Codec().Decode(b)
			if err != nil {
				return false
			}
			d := v.(*Desc)
			// Decode sorts tokens; compare against the sorted input.
			want := a.Clone().(*Desc)
			for id, in := range want.Instances {
				in.Tokens = sortedCopy(in.Tokens)
				want.Instances[id] = in
			}
			return equalDescs(d, want)
		},
	}
	for name, law := range laws {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, quick.Check(law, cfg))
		})
	}
}

func sortedCopy(s []uint32) []uint32 {
	if s == nil {
		return nil
	}
	out := append([]uint32(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestDescMerge(t *testing.T) {
	tests := map[string]struct {
		cur, in    ringpb.InstanceDesc
		wantState  ringpb.InstanceState
		wantChange bool
	}{
		"newer heartbeat wins": {
			cur:       ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 1, State: Joining},
			in:        ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 2, State: Active},
			wantState: Active, wantChange: true,
		},
		"older heartbeat loses": {
			cur:       ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 2, State: Active},
			in:        ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 1, State: Leaving},
			wantState: Active,
		},
		"LEFT tombstone wins a tie": {
			cur:       ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 2, State: Active},
			in:        ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 2, State: Left},
			wantState: Left, wantChange: true,
		},
		"LEFT tombstone loses to a newer registration": {
			cur:       ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 2, State: Left},
			in:        ringpb.InstanceDesc{Id: "a", HeartbeatUnixMs: 3, State: Pending},
			wantState: Pending, wantChange: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := NewDesc()
			d.Instances["a"] = tc.cur
			in := NewDesc()
			in.Instances["a"] = tc.in
			change, err := d.Merge(in)
			require.NoError(t, err)
			require.Equal(t, tc.wantChange, change != nil)
			require.Equal(t, tc.wantState, d.Instances["a"].State)
		})
	}

	t.Run("another type is an error", func(t *testing.T) {
		_, err := NewDesc().Merge(fakeMergeable{})
		require.Error(t, err)
	})
}

type fakeMergeable struct{ kv.Mergeable }

func TestDescTombstones(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	d := NewDesc()
	d.Instances["old"] = ringpb.InstanceDesc{Id: "old", State: Left, HeartbeatUnixMs: now.Add(-10 * time.Minute).UnixMilli()}
	d.Instances["new"] = ringpb.InstanceDesc{Id: "new", State: Left, HeartbeatUnixMs: now.Add(-time.Minute).UnixMilli()}
	d.Instances["dead"] = ringpb.InstanceDesc{Id: "dead", State: Active, HeartbeatUnixMs: now.Add(-time.Hour).UnixMilli()}
	total, removed := d.RemoveTombstones(now.Add(-5 * time.Minute))
	require.Equal(t, 2, total)
	require.Equal(t, 1, removed)
	require.NotContains(t, d.Instances, "old")

	require.True(t, d.Forget("dead", now))
	require.Equal(t, Left, d.Instances["dead"].State)
	require.Empty(t, d.Instances["dead"].Tokens)
	require.False(t, d.Forget("dead", now), "already LEFT")
	require.False(t, d.Forget("nobody", now))
}

func TestCodecRejectsGarbage(t *testing.T) {
	_, err := Codec().Decode([]byte{0xff, 0xff, 0xff})
	require.Error(t, err)
	_, err = Codec().Encode(fakeMergeable{})
	require.Error(t, err)
}

func FuzzCodecDecode(f *testing.F) {
	d := NewDesc()
	d.Instances["a"] = ringpb.InstanceDesc{Id: "a", Tokens: []uint32{3, 1, 2}, State: Active, HeartbeatUnixMs: 5}
	b, _ := Codec().Encode(d)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Codec().Decode(b)
		if err != nil {
			return
		}
		out, err := Codec().Encode(v)
		require.NoError(t, err)
		v2, err := Codec().Decode(out)
		require.NoError(t, err)
		require.True(t, equalDescs(v.(*Desc), v2.(*Desc)))
	})
}

package hatracker

import (
	"math/rand"
	"reflect"
	"testing"
	"testing/quick"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv"
)

// Generate makes small Elections over few keys, replicas and times, so
// that ties and conflicts are common.
func (Elections) Generate(r *rand.Rand, _ int) reflect.Value {
	keys := []string{"t1/a", "t1/b", "t2/a"}
	replicas := []string{"r1", "r2", "r3"}
	m := Elections{}
	for range r.Intn(4) {
		e := Election{
			Replica:   replicas[r.Intn(len(replicas))],
			ElectedAt: int64(r.Intn(3)),
			Deleted:   r.Intn(4) == 0,
		}
		e.UpdatedAt = e.ElectedAt + int64(r.Intn(3))
		m[keys[r.Intn(len(keys))]] = e
	}
	return reflect.ValueOf(m)
}

func merged(t *testing.T, vs ...Elections) Elections {
	t.Helper()
	out := Elections{}
	for _, v := range vs {
		_, err := out.Merge(v.Clone())
		require.NoError(t, err)
	}
	return out
}

func TestMergeLaws(t *testing.T) {
	cfg := &quick.Config{MaxCount: 2000}
	t.Run("idempotent", func(t *testing.T) {
		require.NoError(t, quick.Check(func(a Elections) bool {
			m := merged(t, a)
			change, err := m.Merge(m.Clone())
			return err == nil && change == nil && reflect.DeepEqual(m, merged(t, a))
		}, cfg))
	})
	t.Run("commutative", func(t *testing.T) {
		require.NoError(t, quick.Check(func(a, b Elections) bool {
			return reflect.DeepEqual(merged(t, a, b), merged(t, b, a))
		}, cfg))
	})
	t.Run("associative", func(t *testing.T) {
		require.NoError(t, quick.Check(func(a, b, c Elections) bool {
			return reflect.DeepEqual(merged(t, merged(t, a, b), c), merged(t, a, merged(t, b, c)))
		}, cfg))
	})
	t.Run("the change applied to the old value gives the new value", func(t *testing.T) {
		require.NoError(t, quick.Check(func(a, b Elections) bool {
			old := merged(t, a)
			now := merged(t, a)
			change, err := now.Merge(b.Clone())
			if err != nil {
				return false
			}
			if change != nil {
				_, _ = old.Merge(change)
			}
			return reflect.DeepEqual(old, now)
		}, cfg))
	})
}

func TestMergeRule(t *testing.T) {
	tests := map[string]struct {
		a, b Election
		want Election
	}{
		"newest election wins": {
			a:    Election{Replica: "z", ElectedAt: 1, UpdatedAt: 9},
			b:    Election{Replica: "a", ElectedAt: 2, UpdatedAt: 2},
			want: Election{Replica: "a", ElectedAt: 2, UpdatedAt: 2},
		},
		"same time: greater replica name wins": {
			a:    Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5},
			b:    Election{Replica: "b", ElectedAt: 1, UpdatedAt: 1},
			want: Election{Replica: "b", ElectedAt: 1, UpdatedAt: 1},
		},
		"same election: latest update wins": {
			a:    Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5},
			b:    Election{Replica: "a", ElectedAt: 1, UpdatedAt: 3},
			want: Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5},
		},
		"a deletion wins over the same update": {
			a:    Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5, Deleted: true},
			b:    Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5},
			want: Election{Replica: "a", ElectedAt: 1, UpdatedAt: 5, Deleted: true},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, merged(t, Elections{"t/c": tc.a}, Elections{"t/c": tc.b})["t/c"])
			require.Equal(t, tc.want, merged(t, Elections{"t/c": tc.b}, Elections{"t/c": tc.a})["t/c"])
		})
	}
}

func TestCodecRoundTrip(t *testing.T) {
	in := Elections{"t/c": {Replica: "r", ElectedAt: 1, UpdatedAt: 2}, "t/d": {Replica: "s", Deleted: true}}
	b, err := Codec{}.Encode(in)
	require.NoError(t, err)
	out, err := Codec{}.Decode(b)
	require.NoError(t, err)
	require.Equal(t, kv.Mergeable(in), out)
	_, err = Codec{}.Decode([]byte("{"))
	require.Error(t, err)
}

func TestRemoveTombstones(t *testing.T) {
	m := Elections{"t/old": {Deleted: true, UpdatedAt: 1}, "t/new": {Deleted: true, UpdatedAt: 5000}, "t/live": {UpdatedAt: 1}}
	total, removed := m.RemoveTombstones(timeMs(2000))
	require.Equal(t, 2, total)
	require.Equal(t, 1, removed)
	require.NotContains(t, m, "t/old")
}

package ring

import (
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv/inmemory"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

var testNow = time.UnixMilli(1_700_000_000_000)

func testConfig(t testing.TB) Config {
	t.Helper()
	var cfg Config
	cfg.RegisterFlagsWithPrefix("test.ring.", flag.NewFlagSet("test", flag.PanicOnError))
	cfg.InstanceID = "self"
	return cfg
}

// inst is an instance with a heartbeat heartbeatAge before testNow.
func inst(id string, state ringpb.InstanceState, zone string, heartbeatAge time.Duration, tokens ...uint32) ringpb.InstanceDesc {
	return ringpb.InstanceDesc{
		Id: id, Addr: id + ":9095", State: state, Zone: zone, Tokens: tokens,
		HeartbeatUnixMs: testNow.Add(-heartbeatAge).UnixMilli(),
	}
}

func descOf(instances ...ringpb.InstanceDesc) *Desc {
	d := NewDesc()
	for _, in := range instances {
		d.Instances[in.Id] = in
	}
	return d
}

// newTestRing returns a ring (not started) holding instances, with the
// clock stopped at testNow.
func newTestRing(t testing.TB, cfg Config, reg prometheus.Registerer, instances ...ringpb.InstanceDesc) *Ring {
	t.Helper()
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	r, err := New(cfg, "test", inmemory.New().Client(Codec()), slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	r.now = func() time.Time { return testNow }
	r.setDesc(descOf(instances...))
	return r
}

func ids(instances []ringpb.InstanceDesc) []string {
	out := []string{}
	for _, in := range instances {
		out = append(out, in.Id)
	}
	return out
}

func TestRingGet(t *testing.T) {
	const dead = 2 * time.Minute
	tests := map[string]struct {
		instances     []ringpb.InstanceDesc
		key           uint32
		op            Operation
		zoneAware     bool
		want          []string
		wantMaxErrors int
		wantErr       string
	}{
		"RF 3 with 3 healthy instances": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300)},
			key:       50, want: []string{"a", "b", "c"}, wantMaxErrors: 1,
		},
		"the walk starts at the first token at or after the key and wraps": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       300, want: []string{"c", "d", "a"}, wantMaxErrors: 1,
		},
		"a key past the last token wraps to the first": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       401, want: []string{"a", "b", "c"}, wantMaxErrors: 1,
		},
		"several tokens of one instance count once": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100, 150, 160), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"a", "b", "c"}, wantMaxErrors: 1,
		},
		"an unhealthy instance stays a replica and counts as failed": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", dead, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"a", "c"}, wantMaxErrors: 0,
		},
		"RF 3 with 1 healthy replica has no quorum": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", dead, 200), inst("c", Active, "", dead, 300), inst("d", Active, "", 0, 400)},
			key:       50, wantErr: "replication factor 3 needs 2 healthy replicas, found 1 healthy of 3 replicas",
		},
		"2 instances with RF 3: both, and the quorum stays 2": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Active, "", 0, 200)},
			key:       50, want: []string{"a", "b"}, wantMaxErrors: 0,
		},
		"1 instance with RF 3 fails naming RF and the instance count": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100)},
			key:       50, wantErr: "replication factor 3 needs 2 healthy replicas, found 1 healthy of 1 replicas; the ring has 1 instances with tokens",
		},
		"empty ring": {
			instances: []ringpb.InstanceDesc{inst("a", Pending, "", 0)},
			key:       50, wantErr: "empty ring",
		},
		"a write is extended past a JOINING instance": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 100), inst("b", Joining, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"a", "c", "d"}, wantMaxErrors: 1,
		},
		"a write is extended past a LEAVING instance": {
			instances: []ringpb.InstanceDesc{inst("a", Leaving, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"b", "c", "d"}, wantMaxErrors: 1,
		},
		"a write is extended past an unhealthy LEAVING instance": {
			instances: []ringpb.InstanceDesc{inst("a", Leaving, "", dead, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"b", "c", "d"}, wantMaxErrors: 1,
		},
		"a read includes a LEAVING instance": {
			instances: []ringpb.InstanceDesc{inst("a", Leaving, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, op: Read, want: []string{"a", "b", "c"}, wantMaxErrors: 1,
		},
		"a read is extended past a JOINING instance": {
			instances: []ringpb.InstanceDesc{inst("a", Joining, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, op: Read, want: []string{"b", "c", "d"}, wantMaxErrors: 1,
		},
		"LEFT tombstones are not in the ring": {
			instances: []ringpb.InstanceDesc{inst("a", Left, "", 0), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300), inst("d", Active, "", 0, 400)},
			key:       50, want: []string{"b", "c", "d"}, wantMaxErrors: 1,
		},
		"zone-aware: replicas in distinct zones": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "z1", 0, 100), inst("b", Active, "z1", 0, 200), inst("c", Active, "z2", 0, 300), inst("d", Active, "z3", 0, 400)},
			key:       50, zoneAware: true, want: []string{"a", "c", "d"}, wantMaxErrors: 1,
		},
		"zone-aware: a JOINING instance leaves its zone to the next instance there": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "z1", 0, 100), inst("b", Joining, "z2", 0, 200), inst("c", Active, "z2", 0, 300), inst("d", Active, "z3", 0, 400)},
			key:       50, zoneAware: true, want: []string{"a", "c", "d"}, wantMaxErrors: 1,
		},
		"zone-aware: an unhealthy instance holds its zone": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "z1", 0, 100), inst("b", Active, "z2", dead, 200), inst("c", Active, "z2", 0, 300), inst("d", Active, "z3", 0, 400)},
			key:       50, zoneAware: true, want: []string{"a", "d"}, wantMaxErrors: 0,
		},
		"zone-aware with 2 zones and RF 3: one replica per zone, quorum 2": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "z1", 0, 100), inst("b", Active, "z1", 0, 200), inst("c", Active, "z2", 0, 300), inst("d", Active, "z2", 0, 400)},
			key:       50, zoneAware: true, want: []string{"a", "c"}, wantMaxErrors: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ZoneAwarenessEnabled = tc.zoneAware
			r := newTestRing(t, cfg, nil, tc.instances...)
			set, err := r.Get(tc.key, tc.op, make([]ringpb.InstanceDesc, 0, 3))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(set.Instances))
			require.Equal(t, tc.wantMaxErrors, set.MaxErrors)
			require.Zero(t, set.MaxUnavailableZones)
		})
	}
}

func TestRingGetAll(t *testing.T) {
	const dead = 2 * time.Minute
	five := func(zones []string, states []ringpb.InstanceState, ages []time.Duration) []ringpb.InstanceDesc {
		var out []ringpb.InstanceDesc
		for i, id := range []string{"a", "b", "c", "d", "e", "f"}[:len(states)] {
			out = append(out, inst(id, states[i], zones[i%len(zones)], ages[i], uint32(100*(i+1))))
		}
		return out
	}
	all := []ringpb.InstanceState{Active, Active, Active, Active, Active}
	healthy := make([]time.Duration, 6)
	tests := map[string]struct {
		instances     []ringpb.InstanceDesc
		op            Operation
		zoneAware     bool
		want          []string
		wantMaxErrors int
		wantMaxZones  int
		wantErr       string
	}{
		"every healthy instance; RF/2 may fail": {
			instances: five([]string{""}, all, healthy),
			op:        Read, want: []string{"a", "b", "c", "d", "e"}, wantMaxErrors: 1,
		},
		"an unhealthy instance uses up the allowance": {
			instances: five([]string{""}, all, []time.Duration{0, dead, 0, 0, 0}),
			op:        Read, want: []string{"a", "c", "d", "e"}, wantMaxErrors: 0,
		},
		"two unhealthy instances with RF 3 fail": {
			instances: five([]string{""}, all, []time.Duration{0, dead, dead, 0, 0}),
			op:        Read, wantErr: "2 of 5 instances unhealthy, 1 tolerated",
		},
		"reads include LEAVING and skip JOINING and PENDING": {
			instances: five([]string{""}, []ringpb.InstanceState{Active, Leaving, Joining, Pending, Active}, healthy),
			op:        Read, want: []string{"a", "b", "e"}, wantMaxErrors: 1,
		},
		"writes skip LEAVING": {
			instances: five([]string{""}, []ringpb.InstanceState{Active, Leaving, Active, Active, Active}, healthy),
			op:        Write, want: []string{"a", "c", "d", "e"}, wantMaxErrors: 1,
		},
		"one instance: it must answer": {
			instances: []ringpb.InstanceDesc{inst("a", Active, "", 0, 1)},
			op:        Read, want: []string{"a"}, wantMaxErrors: 0,
		},
		"zone-aware: one zone may fail": {
			instances: five([]string{"z1", "z2", "z3"}, []ringpb.InstanceState{Active, Active, Active, Active, Active, Active}, healthy),
			op:        Read, zoneAware: true, want: []string{"a", "b", "c", "d", "e", "f"}, wantMaxZones: 1,
		},
		"zone-aware: a zone with an unhealthy instance is left out": {
			instances: five([]string{"z1", "z2", "z3"}, []ringpb.InstanceState{Active, Active, Active, Active, Active, Active}, []time.Duration{dead, 0, 0, 0, 0, 0}),
			op:        Read, zoneAware: true, want: []string{"b", "c", "e", "f"}, wantMaxZones: 0,
		},
		"zone-aware: two zones with unhealthy instances fail": {
			instances: five([]string{"z1", "z2", "z3"}, []ringpb.InstanceState{Active, Active, Active, Active, Active, Active}, []time.Duration{dead, dead, 0, 0, 0, 0}),
			op:        Read, zoneAware: true, wantErr: "2 zones have unhealthy instances, 1 tolerated",
		},
		"zone-aware with one zone: it must answer": {
			instances: five([]string{"z1"}, []ringpb.InstanceState{Active, Active}, healthy),
			op:        Read, zoneAware: true, want: []string{"a", "b"}, wantMaxZones: 0,
		},
		"empty": {
			instances: five([]string{""}, []ringpb.InstanceState{Joining}, healthy),
			op:        Read, wantErr: "empty ring",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ZoneAwarenessEnabled = tc.zoneAware
			r := newTestRing(t, cfg, nil, tc.instances...)
			set, err := r.GetAll(tc.op)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, ids(set.Instances))
			require.Equal(t, tc.wantMaxErrors, set.MaxErrors)
			require.Equal(t, tc.wantMaxZones, set.MaxUnavailableZones)
		})
	}
}

func TestRingCounts(t *testing.T) {
	r := newTestRing(t, testConfig(t), nil,
		inst("a", Active, "", 0, 1), inst("b", Active, "", 2*time.Minute, 2), inst("c", Joining, "", 0, 3), inst("d", Left, "", 0))
	require.Equal(t, 3, r.InstancesCount())
	require.Equal(t, 1, r.HealthyInstancesCount())
	require.Equal(t, 3, r.ReplicationFactor())
}

func TestRingRebuildsOnlyOnTopologyChanges(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	base := []ringpb.InstanceDesc{inst("a", Active, "z1", 0, 100, 300), inst("b", Active, "z2", 0, 200)}
	r := newTestRing(t, testConfig(t), reg, base...)
	rebuilds := func() float64 { return testutil.ToFloat64(r.m.rebuilds) }
	require.Equal(t, 1.0, rebuilds())

	steps := []struct {
		name    string
		change  func(d *Desc)
		rebuild bool
	}{
		{"a heartbeat", func(d *Desc) { a := d.Instances["a"]; a.HeartbeatUnixMs += 5000; d.Instances["a"] = a }, false},
		{"an address", func(d *Desc) { a := d.Instances["a"]; a.Addr = "elsewhere:1"; d.Instances["a"] = a }, false},
		{"a state", func(d *Desc) { a := d.Instances["a"]; a.State = Leaving; d.Instances["a"] = a }, true},
		{"tokens", func(d *Desc) { a := d.Instances["a"]; a.Tokens = []uint32{100}; d.Instances["a"] = a }, true},
		{"a zone", func(d *Desc) { a := d.Instances["a"]; a.Zone = "z3"; d.Instances["a"] = a }, true},
		{"a new instance", func(d *Desc) { d.Instances["c"] = inst("c", Active, "", 0, 5) }, true},
		{"an instance leaving", func(d *Desc) { d.Instances["c"] = inst("c", Left, "", 0) }, true},
	}
	d := descOf(base...)
	for _, s := range steps {
		d = d.Clone().(*Desc)
		s.change(d)
		before := rebuilds()
		r.setDesc(d)
		if s.rebuild {
			require.Equal(t, before+1, rebuilds(), s.name)
		} else {
			require.Equal(t, before, rebuilds(), s.name)
		}
	}
	// The in-place updates took effect.
	set, err := r.Get(50, Read, nil)
	require.NoError(t, err)
	require.Equal(t, "elsewhere:1", set.Instances[0].Addr)
	require.Equal(t, testNow.UnixMilli()+5000, set.Instances[0].HeartbeatUnixMs)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hearth_ring_members Instances in the ring by state; instances with an expired heartbeat count as UNHEALTHY only.
# TYPE hearth_ring_members gauge
hearth_ring_members{name="test",state="ACTIVE"} 1
hearth_ring_members{name="test",state="JOINING"} 0
hearth_ring_members{name="test",state="LEAVING"} 1
hearth_ring_members{name="test",state="LEFT"} 1
hearth_ring_members{name="test",state="PENDING"} 0
hearth_ring_members{name="test",state="UNHEALTHY"} 0
# HELP hearth_ring_tokens Tokens in the ring's token table.
# TYPE hearth_ring_tokens gauge
hearth_ring_tokens{name="test"} 2
`), "hearth_ring_members", "hearth_ring_tokens"))
}

func TestRingOwnership(t *testing.T) {
	r := newTestRing(t, testConfig(t), nil,
		inst("a", Active, "", 0, 0, 1<<31), inst("b", Active, "", 0, 1<<30))
	s := r.Status()
	require.Len(t, s.Instances, 2)
	// a owns (2^30, 2^31] and (2^31, 2^32) ∪ [0]; b owns (0, 2^30].
	require.InDelta(t, 75.0, s.Instances[0].Ownership, 0.001)
	require.InDelta(t, 25.0, s.Instances[1].Ownership, 0.001)
}

func TestRingTwoRingsShareARegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	client := inmemory.New().Client(Codec())
	for _, name := range []string{"ingester", "distributor"} {
		_, err := New(testConfig(t), name, client, slog.New(slog.DiscardHandler), reg)
		require.NoError(t, err)
		_, err = NewLifecycler(testConfig(t), name, client, slog.New(slog.DiscardHandler), reg)
		require.NoError(t, err)
	}
}

func BenchmarkRingGet(b *testing.B) {
	for _, bc := range []struct {
		name      string
		instances int
		zoneAware bool
	}{{"instances=3", 3, false}, {"instances=30", 30, false}, {"instances=300", 300, false}, {"instances=30,zones=3", 30, true}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := testConfig(b)
			cfg.ZoneAwarenessEnabled = bc.zoneAware
			var instances []ringpb.InstanceDesc
			rnd := uint32(1)
			for i := range bc.instances {
				in := inst(string(rune('a'+i%26))+string(rune('a'+i/26)), Active, []string{"z1", "z2", "z3"}[i%3], 0)
				in.Tokens = generateTokens(nil, 128, nil, func() uint32 { rnd = rnd*1664525 + 1013904223; return rnd })
				instances = append(instances, in)
			}
			r := newTestRing(b, cfg, nil, instances...)
			buf := make([]ringpb.InstanceDesc, 0, 3)
			var sink int
			key := uint32(0)
			b.ReportAllocs()
			for b.Loop() {
				key += 0x9E3779B9
				set, err := r.Get(key, Write, buf)
				if err != nil {
					b.Fatal(err)
				}
				sink += len(set.Instances)
			}
			if sink == 0 {
				b.Fatal("no replicas")
			}
		})
	}
}

func TestRingGetDoesNotAllocate(t *testing.T) {
	r := newTestRing(t, testConfig(t), nil,
		inst("a", Active, "", 0, 100), inst("b", Active, "", 0, 200), inst("c", Active, "", 0, 300))
	buf := make([]ringpb.InstanceDesc, 0, 3)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := r.Get(150, Write, buf); err != nil {
			t.Fatal(err)
		}
	})
	require.Zero(t, allocs)
}

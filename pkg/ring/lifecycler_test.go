package ring

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/inmemory"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// recordingClient records the state each update wrote for one instance.
type recordingClient struct {
	kv.Client
	id string

	mu     sync.Mutex
	states []string
}

func (c *recordingClient) Update(ctx context.Context, key string, f kv.UpdateFunc) error {
	var written string
	err := c.Client.Update(ctx, key, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		v, retry, err := f(old)
		if d, ok := v.(*Desc); ok {
			written = StateName(d.Instances[c.id].State)
		}
		return v, retry, err
	})
	if err == nil && written != "" {
		c.mu.Lock()
		if len(c.states) == 0 || c.states[len(c.states)-1] != written {
			c.states = append(c.states, written)
		}
		c.mu.Unlock()
	}
	return err
}

func (c *recordingClient) transitions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.states
	c.states = nil
	return out
}

func lifecyclerConfig(t testing.TB, id string) Config {
	cfg := testConfig(t)
	cfg.InstanceID = id
	cfg.InstanceAddr = "10.0.0.1"
	cfg.NumTokens = 16
	return cfg
}

func startLifecycler(t *testing.T, cfg Config, client kv.Client) *Lifecycler {
	t.Helper()
	l, err := NewLifecycler(cfg, "test", client, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, l.Service().StartAsync(context.Background()))
	require.NoError(t, l.Service().AwaitRunning(t.Context()))
	return l
}

func stopLifecycler(t *testing.T, l *Lifecycler) {
	t.Helper()
	l.Service().StopAsync()
	require.NoError(t, l.Service().AwaitTerminated(context.Background()))
}

func entry(t *testing.T, client kv.Client, id string) ringpb.InstanceDesc {
	t.Helper()
	v, err := client.Get(t.Context(), "test.ring")
	require.NoError(t, err)
	require.NotNil(t, v)
	return v.(*Desc).Instances[id]
}

func TestLifecycler(t *testing.T) {
	t.Run("joins through PENDING and JOINING, heartbeats, leaves through LEAVING to LEFT", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := &recordingClient{Client: inmemory.New().Client(Codec()), id: "i1"}
			l := startLifecycler(t, lifecyclerConfig(t, "i1"), client)
			require.Equal(t, []string{"PENDING", "JOINING", "ACTIVE"}, client.transitions())
			e := entry(t, client, "i1")
			require.Equal(t, Active, e.State)
			require.Len(t, e.Tokens, 16)
			require.Equal(t, "10.0.0.1:9095", e.Addr)
			require.Equal(t, l.Tokens(), e.Tokens)

			time.Sleep(5 * time.Second) // fake time: one heartbeat period
			synctest.Wait()
			require.Equal(t, time.Now().UnixMilli(), entry(t, client, "i1").HeartbeatUnixMs)
			require.Equal(t, []string{"ACTIVE"}, client.transitions())

			stopLifecycler(t, l)
			require.Equal(t, []string{"LEAVING", "LEFT"}, client.transitions())
			e = entry(t, client, "i1")
			require.Equal(t, Left, e.State)
			require.Empty(t, e.Tokens)
		})
	})

	t.Run("without unregistering, a restart takes its ACTIVE entry back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := &recordingClient{Client: inmemory.New().Client(Codec()), id: "i1"}
			l := startLifecycler(t, lifecyclerConfig(t, "i1"), client)
			tokens := l.Tokens()
			l.SetUnregisterOnShutdown(false)
			stopLifecycler(t, l)
			client.transitions()
			require.Equal(t, Active, entry(t, client, "i1").State)

			time.Sleep(time.Minute)
			l = startLifecycler(t, lifecyclerConfig(t, "i1"), client)
			require.Equal(t, []string{"ACTIVE"}, client.transitions(), "no detour through PENDING")
			require.Equal(t, tokens, l.Tokens())
			stopLifecycler(t, l)
		})
	})

	t.Run("tokens come back from the tokens file", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			cfg := lifecyclerConfig(t, "i1")
			cfg.TokensFilePath = filepath.Join(t.TempDir(), "tokens")
			l := startLifecycler(t, cfg, inmemory.New().Client(Codec()))
			tokens := l.Tokens()
			stopLifecycler(t, l)
			b, err := os.ReadFile(cfg.TokensFilePath)
			require.NoError(t, err)
			require.Contains(t, string(b), `"tokens":[`)

			// A fresh KV: the entry is gone, the file remains.
			client := &recordingClient{Client: inmemory.New().Client(Codec()), id: "i1"}
			l = startLifecycler(t, cfg, client)
			require.Equal(t, tokens, l.Tokens())
			require.Equal(t, []string{"PENDING", "JOINING", "ACTIVE"}, client.transitions())
			stopLifecycler(t, l)
		})
	})

	t.Run("a forgotten instance comes back with its next heartbeat", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := inmemory.New().Client(Codec())
			l := startLifecycler(t, lifecyclerConfig(t, "i1"), client)
			r := newStartedRing(t, testConfig(t), client)
			require.NoError(t, r.Forget(t.Context(), "i1"))
			synctest.Wait()
			require.Equal(t, Left, entry(t, client, "i1").State)
			require.Equal(t, 0, r.InstancesCount())

			time.Sleep(5 * time.Second)
			synctest.Wait()
			require.Equal(t, Active, entry(t, client, "i1").State)
			require.Len(t, entry(t, client, "i1").Tokens, 16)
			require.Equal(t, 1, r.InstancesCount())
			stopLifecycler(t, l)
			stopRing(t, r)
		})
	})

	t.Run("ChangeState writes the state; LEFT is refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			client := inmemory.New().Client(Codec())
			l := startLifecycler(t, lifecyclerConfig(t, "i1"), client)
			require.NoError(t, l.ChangeState(t.Context(), Leaving))
			require.Equal(t, Leaving, entry(t, client, "i1").State)
			require.Equal(t, Leaving, l.State())
			require.Error(t, l.ChangeState(t.Context(), Left))
			stopLifecycler(t, l)
		})
	})
}

func newStartedRing(t *testing.T, cfg Config, client kv.Client) *Ring {
	t.Helper()
	r, err := New(cfg, "test", client, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, r.Service().StartAsync(context.Background()))
	require.NoError(t, r.Service().AwaitRunning(t.Context()))
	return r
}

func stopRing(t *testing.T, r *Ring) {
	t.Helper()
	r.Service().StopAsync()
	require.NoError(t, r.Service().AwaitTerminated(context.Background()))
}

// TestRingWithLifecyclers: rings see instances join, turn unhealthy when
// their heartbeats stop, and go when they leave.
func TestRingWithLifecyclers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client := inmemory.New().Client(Codec())
		r := newStartedRing(t, testConfig(t), client)
		var ls []*Lifecycler
		for _, id := range []string{"i1", "i2", "i3"} {
			ls = append(ls, startLifecycler(t, lifecyclerConfig(t, id), client))
		}
		synctest.Wait()
		require.Equal(t, 3, r.HealthyInstancesCount())
		set, err := r.Get(12345, Write, nil)
		require.NoError(t, err)
		require.Len(t, set.Instances, 3)
		require.Equal(t, 1, set.MaxErrors)

		// i1 stops without leaving: after the heartbeat timeout it is
		// unhealthy, stays a replica and counts as failed.
		ls[0].SetUnregisterOnShutdown(false)
		stopLifecycler(t, ls[0])
		time.Sleep(61 * time.Second)
		synctest.Wait()
		require.Equal(t, 3, r.InstancesCount())
		require.Equal(t, 2, r.HealthyInstancesCount())
		set, err = r.Get(12345, Write, nil)
		require.NoError(t, err)
		require.Len(t, set.Instances, 2)
		require.Equal(t, 0, set.MaxErrors)

		// i2 leaves: only i3 is healthy, and RF 3 has no quorum.
		stopLifecycler(t, ls[1])
		synctest.Wait()
		require.Equal(t, 2, r.InstancesCount())
		_, err = r.Get(12345, Write, nil)
		require.ErrorIs(t, err, ErrNoQuorum)

		stopLifecycler(t, ls[2])
		stopRing(t, r)
	})
}

func TestPlanJoin(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	counter := func() func() uint32 {
		n := uint32(0)
		return func() uint32 { n++; return n }
	}
	self := ringpb.InstanceDesc{Id: "me", Addr: "10.0.0.1:9095"}
	tests := map[string]struct {
		desc        *Desc
		fileTokens  []uint32
		wantTokens  []uint32
		wantState   ringpb.InstanceState
		wantResumed bool
	}{
		"new instance takes random tokens, skipping taken ones": {
			desc:       descOf(ringpb.InstanceDesc{Id: "other", State: Active, Tokens: []uint32{2, 3}}),
			wantTokens: []uint32{1, 4, 5}, wantState: Pending,
		},
		"tokens of a LEFT tombstone are free": {
			desc:       descOf(ringpb.InstanceDesc{Id: "other", State: Left, Tokens: []uint32{2, 3}}),
			wantTokens: []uint32{1, 2, 3}, wantState: Pending,
		},
		"tokens file first, topped up": {
			fileTokens: []uint32{100, 200},
			wantTokens: []uint32{1, 100, 200}, wantState: Pending,
		},
		"surviving ACTIVE entry is resumed": {
			desc:       descOf(ringpb.InstanceDesc{Id: "me", State: Active, Tokens: []uint32{7, 8, 9}}),
			wantTokens: []uint32{7, 8, 9}, wantState: Active, wantResumed: true,
		},
		"surviving LEAVING entry joins again with its tokens": {
			desc:       descOf(ringpb.InstanceDesc{Id: "me", State: Leaving, Tokens: []uint32{7, 8, 9}}),
			wantTokens: []uint32{7, 8, 9}, wantState: Pending,
		},
		"own LEFT tombstone is ignored": {
			desc:       descOf(ringpb.InstanceDesc{Id: "me", State: Left, Tokens: []uint32{7, 8, 9}}),
			wantTokens: []uint32{1, 2, 3}, wantState: Pending,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := planJoin(tc.desc, self, tc.fileTokens, 3, now, counter())
			require.Equal(t, tc.wantTokens, p.entry.Tokens)
			require.Equal(t, tc.wantState, p.entry.State)
			require.Equal(t, tc.wantResumed, p.resumed)
			require.Equal(t, "10.0.0.1:9095", p.entry.Addr)
		})
	}
}

func TestWriteEntryAlwaysWins(t *testing.T) {
	now := time.UnixMilli(1_000)
	d := descOf(ringpb.InstanceDesc{Id: "me", State: Active, HeartbeatUnixMs: 5_000}) // clock behind the stored entry
	w := writeEntry(d, ringpb.InstanceDesc{Id: "me", State: Leaving}, now)
	require.Equal(t, int64(5_001), w.HeartbeatUnixMs)
	require.Equal(t, Leaving, d.Instances["me"].State)
	w = writeEntry(d, ringpb.InstanceDesc{Id: "me", State: Pending, Tokens: []uint32{1}}, now)
	require.Empty(t, w.Tokens, "PENDING claims no tokens")
}

func TestLifecyclerFailedStartLeavesNoEntry(t *testing.T) {
	cfg := lifecyclerConfig(t, "i1")
	cfg.TokensFilePath = filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(cfg.TokensFilePath, []byte("not json"), 0o600))
	client := inmemory.New().Client(Codec())
	l, err := NewLifecycler(cfg, "test", client, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, l.Service().StartAsync(context.Background()))
	require.ErrorContains(t, l.Service().AwaitRunning(t.Context()), "parsing tokens file")
	v, err := client.Get(t.Context(), "test.ring")
	require.NoError(t, err)
	require.Nil(t, v)
}

package hatracker

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/inmemory"
	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

func testConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	c.Enable = true
	return c
}

func testLimits(mutate func(*limits.Limits)) *limits.Overrides {
	var l limits.Limits
	l.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
	l.AcceptHASamples = true
	if mutate != nil {
		mutate(&l)
	}
	return limits.NewOverrides(l)
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTracker(t testing.TB, client kv.Client, o *limits.Overrides, now func() time.Time, jitter time.Duration) *Tracker {
	t.Helper()
	tr, err := New(Deps{
		Config: testConfig(), KV: client, Limits: o, Logger: slog.New(slog.DiscardHandler),
		Registerer: prometheus.NewPedanticRegistry(), Now: now,
		Jitter: func(time.Duration) time.Duration { return jitter },
	})
	require.NoError(t, err)
	return tr
}

func startTracker(t testing.TB, tr *Tracker) {
	t.Helper()
	require.NoError(t, tr.Service().StartAsync(context.Background()))
	require.NoError(t, tr.Service().AwaitRunning(context.Background()))
	t.Cleanup(func() {
		tr.Service().StopAsync()
		require.NoError(t, tr.Service().AwaitTerminated(context.Background()))
	})
}

// haPush is a push of two series from replica of cluster, each with one
// sample and the first with an exemplar carrying the replica label too.
func haPush(cluster, replica string) *ingesterpb.PushRequest {
	mk := func(name string) ingesterpb.TimeSeries {
		ls := []ingesterpb.LabelPair{{Name: "__name__", Value: name}, {Name: "__replica__", Value: replica}}
		if cluster != "" {
			ls = append(ls, ingesterpb.LabelPair{Name: "cluster", Value: cluster})
		}
		return ingesterpb.TimeSeries{Labels: ls, Samples: []ingesterpb.Sample{{Value: 1}}}
	}
	a, b := mk("a"), mk("b")
	a.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "__replica__", Value: replica}, {Name: "trace_id", Value: "x"}}}}
	return &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{a, b}}
}

func names(ls []ingesterpb.LabelPair) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Name)
	}
	return out
}

func TestDecide(t *testing.T) {
	const upd, fo = 15 * time.Second, 30 * time.Second
	cur := Election{Replica: "a", ElectedAt: 0, UpdatedAt: 0}
	tests := map[string]struct {
		cur     Election
		found   bool
		replica string
		at      time.Duration
		want    action
	}{
		"no election":                         {replica: "a", want: elect},
		"a deleted election":                  {cur: Election{Replica: "a", Deleted: true}, found: true, replica: "b", want: elect},
		"elected replica":                     {cur: cur, found: true, replica: "a", at: 14 * time.Second, want: accept},
		"elected replica, time to refresh":    {cur: cur, found: true, replica: "a", at: 15 * time.Second, want: refresh},
		"other replica, leader alive":         {cur: cur, found: true, replica: "b", at: 29 * time.Second, want: reject},
		"other replica, leader silent enough": {cur: cur, found: true, replica: "b", at: 30 * time.Second, want: elect},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, decide(tc.cur, tc.found, tc.replica, timeMs(0).Add(tc.at), upd, fo))
		})
	}
}

func TestBeforePush(t *testing.T) {
	type step struct {
		tenant  tenant.ID
		cluster string
		replica string
		at      time.Duration
		wantErr error // nil: accepted
	}
	tests := map[string]struct {
		limits func(*limits.Limits)
		steps  []step
	}{
		"tenants without accept_ha_samples are not touched": {
			limits: func(l *limits.Limits) { l.AcceptHASamples = false },
			steps:  []step{{cluster: "c", replica: "a"}, {cluster: "c", replica: "b"}},
		},
		"pushes without a cluster label are not touched": {
			steps: []step{{cluster: "", replica: "a"}, {cluster: "", replica: "b"}},
		},
		"the first replica is elected, the other deduplicated": {
			steps: []step{{cluster: "c", replica: "a"}, {cluster: "c", replica: "b", wantErr: remotewrite.ErrDeduplicated}, {cluster: "c", replica: "a", at: time.Second}},
		},
		"clusters and tenants elect separately": {
			steps: []step{{cluster: "c", replica: "a"}, {cluster: "d", replica: "b"}, {tenant: "u", cluster: "c", replica: "b"}},
		},
		"failover after the timeout": {
			steps: []step{
				{cluster: "c", replica: "a"},
				{cluster: "c", replica: "b", at: 29 * time.Second, wantErr: remotewrite.ErrDeduplicated},
				{cluster: "c", replica: "b", at: 30 * time.Second},
				{cluster: "c", replica: "a", at: 31 * time.Second, wantErr: remotewrite.ErrDeduplicated},
			},
		},
		"refreshes keep the leader": {
			steps: []step{
				{cluster: "c", replica: "a"},
				{cluster: "c", replica: "a", at: 20 * time.Second},
				{cluster: "c", replica: "b", at: 40 * time.Second, wantErr: remotewrite.ErrDeduplicated},
			},
		},
		"ha_max_clusters": {
			limits: func(l *limits.Limits) { l.HAMaxClusters = 1 },
			steps:  []step{{cluster: "c", replica: "a"}, {cluster: "d", replica: "a", wantErr: remotewrite.ErrInvalid}, {cluster: "c", replica: "a"}},
		},
		"custom labels": {
			// The roles are swapped: "__replica__" names the cluster.
			limits: func(l *limits.Limits) { l.HAClusterLabel, l.HAReplicaLabel = "__replica__", "cluster" },
			steps:  []step{{cluster: "c", replica: "a"}, {cluster: "x", replica: "a", wantErr: remotewrite.ErrDeduplicated}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{t: timeMs(1_000_000)}
			start := clock.t
			o := testLimits(tc.limits)
			tr := newTracker(t, inmemory.New().Client(Codec{}), o, clock.now, 0)
			for i, s := range tc.steps {
				clock.t = start.Add(s.at)
				tn := s.tenant
				if tn == "" {
					tn = "t"
				}
				req := haPush(s.cluster, s.replica)
				err := tr.BeforePush(t.Context(), tn, req)
				if s.wantErr != nil {
					require.ErrorIsf(t, err, s.wantErr, "step %d", i)
					require.Contains(t, err.Error(), "tenant "+string(tn))
					continue
				}
				require.NoErrorf(t, err, "step %d", i)
				lim := o.For(tn)
				stripped := lim.AcceptHASamples && s.cluster != ""
				for _, ts := range req.Timeseries {
					require.Equal(t, !stripped, contains(names(ts.Labels), lim.HAReplicaLabel), "step %d: %v", i, ts.Labels)
				}
				if stripped && lim.HAReplicaLabel == "__replica__" {
					require.Equal(t, []string{"trace_id"}, names(req.Timeseries[0].Exemplars[0].Labels))
					require.Contains(t, names(req.Timeseries[0].Labels), "cluster", "the cluster label is kept")
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestDedupAnswerAndMetrics(t *testing.T) {
	clock := &fakeClock{t: timeMs(1_000_000)}
	o := testLimits(func(l *limits.Limits) { l.HAMaxClusters = 1 })
	tr := newTracker(t, inmemory.New().Client(Codec{}), o, clock.now, 0)
	require.NoError(t, tr.BeforePush(t.Context(), "t", haPush("c", "a")))
	err := tr.BeforePush(t.Context(), "t", haPush("c", "b"))
	rec := httptest.NewRecorder()
	remotewrite.WriteError(rec, err)
	require.Equal(t, http.StatusAccepted, rec.Code)
	require.Contains(t, rec.Body.String(), `the elected replica is "a"`)
	require.InDelta(t, 3.0, testutil.ToFloat64(tr.deduped.WithLabelValues("t", "c")), 0, "2 samples and an exemplar")
	require.InDelta(t, 1.0, testutil.ToFloat64(tr.electedChanges.WithLabelValues("t", "c")), 0)

	err = tr.BeforePush(t.Context(), "t", haPush("d", "a"))
	var tm *TooManyClustersError
	require.ErrorAs(t, err, &tm)
	require.Equal(t, ReasonTooManyClusters, tm.Reason())
	require.Contains(t, err.Error(), "ha_max_clusters=1")
	require.Equal(t, http.StatusBadRequest, remotewrite.HTTPStatus(err))
}

// gossip merges the value of from into to, as memberlist would.
func gossip(t *testing.T, from, to kv.Client) {
	t.Helper()
	v, err := from.Get(t.Context(), Key)
	require.NoError(t, err)
	require.NoError(t, to.Update(t.Context(), Key, func(kv.Mergeable) (kv.Mergeable, bool, error) { return v, false, nil }))
}

// Two distributors that elected different replicas concurrently (their KVs
// had not exchanged anything yet) agree on one once the values merge.
func TestConflictingElectionsConverge(t *testing.T) {
	for name, tc := range map[string]struct {
		atA, atB time.Time
		want     string
	}{
		"newer election wins":           {atA: timeMs(2000), atB: timeMs(1000), want: "a"},
		"same time: greater name wins":  {atA: timeMs(1000), atB: timeMs(1000), want: "b"},
		"newer election wins, reversed": {atA: timeMs(1000), atB: timeMs(1500), want: "b"},
	} {
		t.Run(name, func(t *testing.T) {
			kvA, kvB := inmemory.New().Client(Codec{}), inmemory.New().Client(Codec{})
			clockA, clockB := &fakeClock{t: tc.atA}, &fakeClock{t: tc.atB}
			o := testLimits(nil)
			trA, trB := newTracker(t, kvA, o, clockA.now, 0), newTracker(t, kvB, o, clockB.now, 0)
			startTracker(t, trA)
			startTracker(t, trB)
			require.NoError(t, trA.BeforePush(t.Context(), "t", haPush("c", "a")))
			require.NoError(t, trB.BeforePush(t.Context(), "t", haPush("c", "b")))

			gossip(t, kvA, kvB)
			gossip(t, kvB, kvA)
			for _, tr := range []*Tracker{trA, trB} {
				require.Eventually(t, func() bool { return tr.Snapshot()["t/c"].Replica == tc.want }, 5*time.Second, time.Millisecond)
			}
			// Both now take the winner and drop the other.
			clockA.t, clockB.t = clockA.t.Add(time.Second), clockB.t.Add(time.Second)
			loser := map[string]string{"a": "b", "b": "a"}[tc.want]
			for _, tr := range []*Tracker{trA, trB} {
				require.NoError(t, tr.BeforePush(t.Context(), "t", haPush("c", tc.want)))
				require.ErrorIs(t, tr.BeforePush(t.Context(), "t", haPush("c", loser)), remotewrite.ErrDeduplicated)
			}
		})
	}
}

// Two replicas push every second through two distributors in turn; the
// leader stops and the follower takes over after the failover timeout,
// with no gap in the written data longer than the timeout.
func TestFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := inmemory.New()
		o := testLimits(nil)
		trackers := []*Tracker{
			newTracker(t, store.Client(Codec{}), o, nil, 0),
			newTracker(t, store.Client(Codec{}), o, nil, 4*time.Second),
		}
		for _, tr := range trackers {
			require.NoError(t, tr.Service().StartAsync(context.Background()))
			require.NoError(t, tr.Service().AwaitRunning(context.Background()))
		}
		const interval = time.Second
		failover := testConfig().FailoverTimeout
		start := time.Now()
		var written []struct {
			at      time.Duration
			replica string
		}
		leaderStops := 90 * time.Second
		for i := 0; time.Since(start) < 3*time.Minute; i++ {
			for j, replica := range []string{"a", "b"} {
				if replica == "a" && time.Since(start) >= leaderStops {
					continue
				}
				tr := trackers[(i+j)%2]
				err := tr.BeforePush(t.Context(), "t", haPush("c", replica))
				if err == nil {
					written = append(written, struct {
						at      time.Duration
						replica string
					}{time.Since(start), replica})
				} else {
					require.ErrorIs(t, err, remotewrite.ErrDeduplicated)
				}
			}
			time.Sleep(interval)
			synctest.Wait() // let gossip (the KV watch) deliver
		}
		require.NotEmpty(t, written)
		var lastA, firstB time.Duration = -1, -1
		for _, w := range written {
			switch {
			case w.replica == "a":
				require.Equal(t, time.Duration(-1), firstB, "a written after the failover at %s", w.at)
				lastA = w.at
			case firstB < 0:
				firstB = w.at
			}
		}
		require.Equal(t, leaderStops-interval, lastA, "a was the leader until it stopped")
		require.Positive(t, firstB, "b took over")
		require.LessOrEqual(t, firstB-lastA, failover, "gap between the leader's last and the follower's first written push")
		// Every later push from b is written.
		require.Equal(t, int((3*time.Minute-firstB)/interval), len(written)-int(lastA/interval)-1)
		for _, tr := range trackers {
			require.Equal(t, "b", tr.Snapshot()["t/c"].Replica)
			tr.Service().StopAsync()
			require.NoError(t, tr.Service().AwaitTerminated(context.Background()))
		}
	})
}

func TestIdleClusterIsDeleted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := inmemory.New()
		o := testLimits(func(l *limits.Limits) { l.HAMaxClusters = 1 })
		tr := newTracker(t, store.Client(Codec{}), o, nil, 0)
		require.NoError(t, tr.Service().StartAsync(context.Background()))
		require.NoError(t, tr.Service().AwaitRunning(context.Background()))
		require.NoError(t, tr.BeforePush(t.Context(), "t", haPush("c", "a")))
		require.ErrorIs(t, tr.BeforePush(t.Context(), "t", haPush("d", "a")), remotewrite.ErrInvalid)
		time.Sleep(idleTimeout + 2*cleanupInterval)
		synctest.Wait()
		require.Empty(t, tr.Snapshot())
		require.NoError(t, tr.BeforePush(t.Context(), "t", haPush("d", "a")), "the idle cluster no longer counts")
		tr.Service().StopAsync()
		require.NoError(t, tr.Service().AwaitTerminated(context.Background()))
	})
}

func TestHandler(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	tr := newTracker(t, inmemory.New().Client(Codec{}), testLimits(nil), clock.now, 0)
	require.NoError(t, tr.BeforePush(t.Context(), "t", haPush("c<x>", "a")))

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/distributor/ha_tracker", nil)
	req.Header.Set("Accept", "application/json")
	tr.Handler().ServeHTTP(rec, req)
	var rows []Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rows))
	require.Equal(t, []Status{{
		Tenant: "t", Cluster: "c<x>", Replica: "a", ElectedAt: clock.t, UpdatedAt: clock.t, FailoverAt: clock.t.Add(30 * time.Second),
	}}, rows)

	rec = httptest.NewRecorder()
	tr.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/distributor/ha_tracker", nil))
	require.Contains(t, rec.Body.String(), "<td>c&lt;x&gt;</td><td>a</td>")
}

// Over real gossip, an election made on one distributor reaches the other.
func TestElectionsGossipOverMemberlist(t *testing.T) {
	start := func(join ...string) (*memberlist.KV, kv.Client) {
		var cfg memberlist.Config
		cfg.RegisterFlags(flag.NewFlagSet("", flag.PanicOnError))
		cfg.BindAddr, cfg.BindPort, cfg.Join = "127.0.0.1", 0, join
		cfg.GossipInterval, cfg.PushPullInterval, cfg.RejoinInterval, cfg.LeaveTimeout = 20*time.Millisecond, 0, 0, 200*time.Millisecond
		k, err := memberlist.New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.NoError(t, err)
		c := k.Client(Codec{})
		require.NoError(t, k.Service().StartAsync(context.Background()))
		require.NoError(t, k.Service().AwaitRunning(t.Context()))
		t.Cleanup(func() {
			k.Service().StopAsync()
			require.NoError(t, k.Service().AwaitTerminated(context.Background()))
		})
		return k, c
	}
	k1, c1 := start()
	_, c2 := start(k1.Addr())
	o := testLimits(nil)
	tr1, tr2 := newTracker(t, c1, o, nil, 0), newTracker(t, c2, o, nil, 0)
	startTracker(t, tr1)
	startTracker(t, tr2)
	require.NoError(t, tr1.BeforePush(t.Context(), "t", haPush("c", "a")))
	require.Eventually(t, func() bool { return tr2.Snapshot()["t/c"].Replica == "a" }, 10*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, tr2.BeforePush(t.Context(), "t", haPush("c", "b")), remotewrite.ErrDeduplicated)
}

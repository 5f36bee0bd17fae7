package hatracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

const (
	// cleanupInterval is how often a tracker looks for idle clusters.
	cleanupInterval = time.Minute
	// idleTimeout is how long a cluster may send nothing before its
	// election is deleted (Cortex's value); it then stops counting towards
	// ha_max_clusters.
	idleTimeout = 30 * time.Minute
)

// action is what to do with a push, given the current election.
type action int

const (
	accept  action = iota // from the elected replica
	refresh               // accept, and record that the replica is alive
	elect                 // no (live) election: elect this replica
	reject                // from another replica while the elected one is alive
)

// decide is the election state machine: pure, time as input. A push from
// replica at now, with cur the cluster's election (found false when there is
// none).
func decide(cur Election, found bool, replica string, now time.Time, updateTimeout, failoverTimeout time.Duration) action {
	if !found || cur.Deleted {
		return elect
	}
	since := time.Duration(now.UnixMilli()-cur.UpdatedAt) * time.Millisecond
	if cur.Replica == replica {
		if since >= updateTimeout {
			return refresh
		}
		return accept
	}
	if since >= failoverTimeout {
		return elect
	}
	return reject
}

// DedupError is a push from a replica that is not its cluster's elected
// one. It matches remotewrite.ErrDeduplicated (202 Accepted, nothing
// written). It has no Reason: deduplicated samples are not discards and
// count in hearth_distributor_deduped_samples_total instead.
type DedupError struct {
	Tenant                    tenant.ID
	Cluster, Replica, Elected string
}

func (e *DedupError) Error() string {
	return fmt.Sprintf("push from replica %q of HA cluster %q of tenant %s not written: the elected replica is %q (deduplicated, not an error)",
		e.Replica, e.Cluster, e.Tenant, e.Elected)
}

// Is makes the error match remotewrite.ErrDeduplicated.
func (e *DedupError) Is(target error) bool { return target == remotewrite.ErrDeduplicated }

// ReasonTooManyClusters is the reason label of
// hearth_discarded_samples_total for a push from one HA cluster too many.
const ReasonTooManyClusters = "too_many_ha_clusters"

// TooManyClustersError is a push from a new HA cluster of a tenant that has
// ha_max_clusters already. It matches remotewrite.ErrInvalid (400).
type TooManyClustersError struct {
	Tenant  tenant.ID
	Cluster string
	Limit   int
}

func (e *TooManyClustersError) Error() string {
	return fmt.Sprintf("too many HA clusters for tenant %s: cluster %.200q would be one more than ha_max_clusters=%d (err-hearth-too-many-ha-clusters)",
		e.Tenant, e.Cluster, e.Limit)
}

// Is makes the error match remotewrite.ErrInvalid.
func (e *TooManyClustersError) Is(target error) bool { return target == remotewrite.ErrInvalid }

// Reason is the reason label of the discarded samples.
func (e *TooManyClustersError) Reason() string { return ReasonTooManyClusters }

// Deps are the tracker's dependencies.
type Deps struct {
	Config Config
	// KV holds the elections; its codec must be [Codec]. With memberlist,
	// create it (KV.Client(hatracker.Codec{})) before the KV starts.
	KV         kv.Client
	Limits     *limits.Overrides
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Jitter picks the update-timeout jitter in [0, max); nil is random.
	Jitter func(max time.Duration) time.Duration
}

// Tracker deduplicates the pushes of HA Prometheus pairs: per tenant and
// cluster, one elected replica's samples are written and the others' are
// dropped. It is a pre-push hook of the distributor. Safe for concurrent
// use.
type Tracker struct {
	cfg           Config
	updateTimeout time.Duration // with this tracker's jitter
	kv            kv.Client
	limits        *limits.Overrides
	logger        *slog.Logger
	now           func() time.Time
	svc           *services.Service

	mu    sync.RWMutex
	cache Elections // what this tracker knows: the KV's value merged with its own updates

	deduped        *prometheus.CounterVec
	electedChanges *prometheus.CounterVec
	kvFailures     prometheus.Counter
}

// New returns a tracker; its service must run for elections made by other
// distributors to be seen.
func New(d Deps) (*Tracker, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	if d.KV == nil || d.Limits == nil || d.Logger == nil || d.Registerer == nil {
		return nil, errors.New("hatracker: KV, Limits, Logger and Registerer are required")
	}
	t := &Tracker{cfg: d.Config, kv: d.KV, limits: d.Limits, logger: d.Logger, now: d.Now, cache: Elections{}}
	if t.now == nil {
		t.now = time.Now
	}
	jitter := d.Jitter
	if jitter == nil {
		jitter = func(m time.Duration) time.Duration {
			if m <= 0 {
				return 0
			}
			return rand.N(m)
		}
	}
	t.updateTimeout = d.Config.UpdateTimeout + jitter(d.Config.UpdateTimeoutJitterMax)
	f := promauto.With(d.Registerer)
	t.deduped = f.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_distributor_deduped_samples_total",
		Help: "Samples, histograms and exemplars dropped because they came from an HA replica that is not its cluster's elected one.",
	}, []string{"tenant", "cluster"})
	t.electedChanges = f.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_distributor_ha_tracker_elected_replica_changes_total",
		Help: "Changes of an HA cluster's elected replica seen by this distributor (elections and failovers, its own or gossiped).",
	}, []string{"tenant", "cluster"})
	t.kvFailures = f.NewCounter(prometheus.CounterOpts{
		Name: "hearth_distributor_ha_tracker_kv_update_failures_total",
		Help: "Updates of the HA elections in the KV that failed.",
	})
	t.svc = services.New("ha-tracker", t.start, t.run, nil)
	return t, nil
}

// Service watches the KV for the elections of other distributors and
// deletes the elections of clusters idle for 30 minutes. Start it after the
// KV and before the distributor.
func (t *Tracker) Service() *services.Service { return t.svc }

func (t *Tracker) start(ctx context.Context) error {
	v, err := t.kv.Get(ctx, Key)
	if err != nil {
		return fmt.Errorf("reading HA elections: %w", err)
	}
	t.merge(v)
	return nil
}

func (t *Tracker) run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(cleanupInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.cleanup(ctx)
			}
		}
	})
	t.kv.WatchKey(ctx, Key, func(v kv.Mergeable) bool {
		t.merge(v)
		return true
	})
	wg.Wait()
	return nil
}

// merge folds v into the cache and counts changes of elected replicas.
func (t *Tracker) merge(v kv.Mergeable) {
	e, ok := v.(Elections)
	if !ok || len(e) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range e {
		cur, had := t.cache[k]
		if had && !n.wins(cur) {
			continue
		}
		t.cache[k] = n
		if !n.Deleted && (!had || cur.Replica != n.Replica || cur.Deleted) {
			tn, cluster := splitKey(k)
			t.electedChanges.WithLabelValues(string(tn), cluster).Inc()
		}
	}
}

// lookup returns the live election of key.
func (t *Tracker) lookup(key string) (Election, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.cache[key]
	return e, ok && !e.Deleted
}

// clusters counts tn's live elections.
func (t *Tracker) clusters(tn tenant.ID) int {
	prefix := string(tn) + "/"
	n := 0
	t.mu.RLock()
	defer t.mu.RUnlock()
	for k, e := range t.cache {
		if !e.Deleted && strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// BeforePush implements the distributor's PrePushHook. For a tenant with
// accept_ha_samples, the push's cluster and replica are the labels of the
// first series that has both (a push comes from one replica). A push from
// the elected replica is written without the replica label; a push from
// another replica fails with [DedupError] (202, nothing written), unless
// the elected one has been silent for the failover timeout, in which case
// this replica is elected. Pushes without both labels are not touched.
func (t *Tracker) BeforePush(ctx context.Context, tn tenant.ID, req *ingesterpb.PushRequest) error {
	lim := t.limits.For(tn)
	if !lim.AcceptHASamples {
		return nil
	}
	cluster, replica, ok := findLabels(req, lim.HAClusterLabel, lim.HAReplicaLabel)
	if !ok {
		return nil
	}
	key := electionKey(tn, cluster) // a copy: cluster aliases the body
	now := t.now()
	cur, found := t.lookup(key)
	if !found && lim.HAMaxClusters > 0 && t.clusters(tn) >= lim.HAMaxClusters {
		return &TooManyClustersError{Tenant: tn, Cluster: strings.Clone(cluster), Limit: lim.HAMaxClusters}
	}
	switch decide(cur, found, replica, now, t.updateTimeout, t.cfg.FailoverTimeout) {
	case accept:
	case reject:
		return t.dedup(tn, key, replica, cur.Replica, req)
	case refresh, elect:
		winner, err := t.write(ctx, key, replica, now)
		if err != nil {
			t.kvFailures.Inc()
			t.logger.Warn("Updating HA election failed", "tenant", tn, "cluster", cluster, "replica", replica, "err", err)
			if !found || cur.Replica != replica {
				return fmt.Errorf("%w: electing replica %q of HA cluster %q of tenant %s: %w", remotewrite.ErrUnavailable, replica, cluster, tn, err)
			}
			// The elected replica's refresh failed: still accept it.
		} else if winner.Replica != replica {
			return t.dedup(tn, key, replica, winner.Replica, req)
		}
	}
	stripLabel(req, lim.HAReplicaLabel)
	return nil
}

// write refreshes or elects replica for key in the KV, deciding again on
// the KV's current value, and returns the winning election.
func (t *Tracker) write(ctx context.Context, key, replica string, now time.Time) (Election, error) {
	var result Election
	err := t.kv.Update(ctx, Key, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		stored, _ := old.(Elections)
		cur, found := stored[key]
		switch decide(cur, found, replica, now, t.updateTimeout, t.cfg.FailoverTimeout) {
		case accept, reject:
			result = cur
			return nil, false, nil
		case refresh:
			result = cur
			result.UpdatedAt = now.UnixMilli()
		case elect:
			result = Election{Replica: strings.Clone(replica), ElectedAt: now.UnixMilli(), UpdatedAt: now.UnixMilli()}
		}
		return Elections{key: result}, false, nil
	})
	if err != nil {
		return Election{}, err
	}
	t.merge(Elections{key: result})
	if e, ok := t.lookup(key); ok {
		return e, nil // a newer election may have won meanwhile
	}
	return result, nil
}

func (t *Tracker) dedup(tn tenant.ID, key, replica, elected string, req *ingesterpb.PushRequest) error {
	n := 0
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		n += len(ts.Samples) + len(ts.Histograms) + len(ts.Exemplars)
	}
	_, cluster := splitKey(key)
	if n > 0 {
		t.deduped.WithLabelValues(string(tn), cluster).Add(float64(n))
	}
	return &DedupError{Tenant: tn, Cluster: cluster, Replica: strings.Clone(replica), Elected: elected}
}

// cleanup deletes the elections of clusters idle for idleTimeout, and
// forgets old tombstones.
func (t *Tracker) cleanup(ctx context.Context) {
	now := t.now()
	deadline := now.Add(-idleTimeout).UnixMilli()
	t.mu.RLock()
	var idle []string
	for k, e := range t.cache {
		if !e.Deleted && e.UpdatedAt < deadline {
			idle = append(idle, k)
		}
	}
	t.mu.RUnlock()
	for _, k := range idle {
		err := t.kv.Update(ctx, Key, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
			stored, _ := old.(Elections)
			cur, ok := stored[k]
			if !ok || cur.Deleted || cur.UpdatedAt >= deadline {
				return nil, false, nil
			}
			cur.Deleted, cur.UpdatedAt = true, now.UnixMilli()
			return Elections{k: cur}, false, nil
		})
		if err != nil {
			t.kvFailures.Inc()
			t.logger.Warn("Deleting idle HA election failed", "key", k, "err", err)
		}
	}
	t.mu.Lock()
	t.cache.RemoveTombstones(now.Add(-idleTimeout))
	t.mu.Unlock()
}

// findLabels returns the cluster and replica labels of the first series
// that has both.
func findLabels(req *ingesterpb.PushRequest, clusterLabel, replicaLabel string) (cluster, replica string, ok bool) {
	for i := range req.Timeseries {
		var hasC, hasR bool
		for _, l := range req.Timeseries[i].Labels {
			switch l.Name {
			case clusterLabel:
				cluster, hasC = l.Value, true
			case replicaLabel:
				replica, hasR = l.Value, true
			}
		}
		if hasC && hasR {
			return cluster, replica, true
		}
	}
	return "", "", false
}

// stripLabel removes the label name from every series and exemplar.
func stripLabel(req *ingesterpb.PushRequest, name string) {
	isName := func(l ingesterpb.LabelPair) bool { return l.Name == name }
	for i := range req.Timeseries {
		ts := &req.Timeseries[i]
		ts.Labels = slices.DeleteFunc(ts.Labels, isName)
		for j := range ts.Exemplars {
			ts.Exemplars[j].Labels = slices.DeleteFunc(ts.Exemplars[j].Labels, isName)
		}
	}
}

// Snapshot returns a copy of the elections this tracker knows, tombstones
// excluded.
func (t *Tracker) Snapshot() Elections {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make(Elections, len(t.cache))
	for k, e := range t.cache {
		if !e.Deleted {
			out[k] = e
		}
	}
	return out
}

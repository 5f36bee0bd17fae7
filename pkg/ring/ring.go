package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Errors of [Ring.Get] and [Ring.GetAll]; match them with errors.Is. Both
// mean the request may succeed later (HTTP 5xx).
var (
	// ErrEmptyRing: no instance owns tokens.
	ErrEmptyRing = errors.New("empty ring")
	// ErrNoQuorum: too few healthy instances for a quorum.
	ErrNoQuorum = errors.New("too few healthy instances for a quorum")
)

// Ring is a read-only view of one ring descriptor in the KV, kept current by
// watching its key. It answers which instances own a key. It is a service
// ([Ring.Service]); its methods are safe for concurrent use.
//
// The token table (sorted tokens and their owners) is rebuilt only when the
// instances, their tokens, states or zones change; a heartbeat only updates
// the instance's entry in place.
type Ring struct {
	cfg    Config
	name   string
	kv     kv.Client
	logger *slog.Logger
	m      *ringMetrics
	svc    *services.Service
	now    func() time.Time // tests replace it

	mu        sync.RWMutex
	desc      *Desc                 // latest descriptor, for the status page
	instances []ringpb.InstanceDesc // not LEFT, sorted by ID
	ownership []float64             // per instance, share of the ring
	tokens    []uint32              // sorted
	owners    []int32               // owners[i] is the index in instances of tokens[i]'s owner
	zoneOf    []int32               // per instance, index of its zone
	numZones  int
	inTable   int // instances that own tokens
}

// New returns a ring that watches cfg.KVKey through client once its service
// runs. name tells rings apart in metrics and logs ("ingester").
func New(cfg Config, name string, client kv.Client, logger *slog.Logger, reg prometheus.Registerer) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ring %s config: %w", name, err)
	}
	r := &Ring{
		cfg:    cfg,
		name:   name,
		kv:     client,
		logger: logger.With("ring", name),
		m:      newRingMetrics(reg, name),
		now:    time.Now,
		desc:   NewDesc(),
	}
	r.svc = services.New(name+"-ring", r.starting, r.running, nil)
	return r, nil
}

// Service returns the ring's service: Running once the current descriptor
// was read.
func (r *Ring) Service() *services.Service { return r.svc }

// Name returns the ring's name.
func (r *Ring) Name() string { return r.name }

// ReplicationFactor returns the configured replication factor.
func (r *Ring) ReplicationFactor() int { return r.cfg.ReplicationFactor }

func (r *Ring) starting(ctx context.Context) error {
	v, err := r.kv.Get(ctx, r.cfg.KVKey)
	if err != nil {
		return fmt.Errorf("reading ring %s: %w", r.name, err)
	}
	if d, ok := v.(*Desc); ok && d != nil {
		r.setDesc(d)
	}
	return nil
}

func (r *Ring) running(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.kv.WatchKey(ctx, r.cfg.KVKey, func(v kv.Mergeable) bool {
			d, ok := v.(*Desc)
			if !ok {
				r.logger.Error("Ring key holds another type", "key", r.cfg.KVKey, "type", fmt.Sprintf("%T", v))
				return true
			}
			r.setDesc(d)
			return true
		})
	}()
	// Health changes with time alone: refresh the member counts.
	t := time.NewTicker(min(10*time.Second, r.cfg.HeartbeatTimeout/2))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-t.C:
			r.updateMemberMetrics()
		}
	}
}

// setDesc makes d the ring's descriptor; the ring keeps d, which the caller
// must not change afterwards.
func (r *Ring) setDesc(d *Desc) {
	ids := make([]string, 0, len(d.Instances))
	for id, in := range d.Instances {
		if in.State != Left {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)

	r.mu.Lock()
	r.desc = d
	if r.sameTopologyLocked(d, ids) {
		for i := range r.instances {
			in := d.Instances[ids[i]]
			r.instances[i].HeartbeatUnixMs = in.HeartbeatUnixMs
			r.instances[i].Addr = in.Addr
			r.instances[i].HttpAddr = in.HttpAddr
			r.instances[i].RegisteredUnixMs = in.RegisteredUnixMs
		}
		r.mu.Unlock()
		r.updateMemberMetrics()
		return
	}
	instances := make([]ringpb.InstanceDesc, len(ids))
	for i, id := range ids {
		instances[i] = d.Instances[id]
	}
	r.rebuildLocked(instances)
	r.mu.Unlock()
	r.m.rebuilds.Inc()
	r.updateMemberMetrics()
	r.updateOwnershipMetrics()
}

// sameTopologyLocked reports whether d has the instances, states, zones and
// tokens of the current table.
func (r *Ring) sameTopologyLocked(d *Desc, ids []string) bool {
	if len(ids) != len(r.instances) || r.tokens == nil && len(ids) > 0 {
		return false
	}
	for i, id := range ids {
		cur, in := &r.instances[i], d.Instances[id]
		if cur.Id != id || cur.State != in.State || cur.Zone != in.Zone || !slices.Equal(cur.Tokens, in.Tokens) {
			return false
		}
	}
	return true
}

// rebuildLocked builds the token table of instances (sorted by ID).
func (r *Ring) rebuildLocked(instances []ringpb.InstanceDesc) {
	n := 0
	for i := range instances {
		n += len(instances[i].Tokens)
	}
	// Token in the high half, owner in the low half: sorting orders by
	// token, then (for the rare duplicate token) by instance ID.
	packed := make([]uint64, 0, n)
	zones := map[string]int32{}
	zoneOf := make([]int32, len(instances))
	inTable := 0
	for i := range instances {
		in := &instances[i]
		z, ok := zones[in.Zone]
		if !ok {
			z = int32(len(zones))
			zones[in.Zone] = z
		}
		zoneOf[i] = z
		if len(in.Tokens) > 0 {
			inTable++
		}
		for _, t := range in.Tokens {
			packed = append(packed, uint64(t)<<32|uint64(i))
		}
	}
	slices.Sort(packed)
	tokens := make([]uint32, len(packed))
	owners := make([]int32, len(packed))
	for i, p := range packed {
		tokens[i], owners[i] = uint32(p>>32), int32(uint32(p))
	}
	ownership := make([]float64, len(instances))
	if len(tokens) == 1 {
		ownership[owners[0]] = 1
	} else {
		for i := range tokens {
			prev := tokens[(i+len(tokens)-1)%len(tokens)]
			ownership[owners[i]] += float64(tokens[i]-prev) / (1 << 32) // uint32 arithmetic wraps around the ring
		}
	}
	r.instances, r.tokens, r.owners, r.zoneOf = instances, tokens, owners, zoneOf
	r.ownership, r.numZones, r.inTable = ownership, len(zones), inTable
}

func (r *Ring) healthy(in *ringpb.InstanceDesc, nowMs int64) bool {
	return in.HeartbeatUnixMs >= nowMs-r.cfg.HeartbeatTimeout.Milliseconds()
}

// Get returns the replica set of key for op: the owners of the next
// replication-factor distinct instances clockwise from key (in distinct
// zones when zone awareness is on). The walk goes past instances whose
// state op does not accept (JOINING and LEAVING ones for a write), but not
// past unhealthy ones: those stay replicas, are left out of the set and
// count as failed, so a flapping instance does not move keys around.
//
// A write needs a quorum of replication-factor/2+1 instances; MaxErrors is
// how many of the returned instances may fail on top of the unhealthy ones.
// With fewer instances than the replication factor, the set is all of them
// and the quorum is unchanged. Get fails with ErrEmptyRing or ErrNoQuorum.
//
// Get does not allocate when buf has room for the replication factor:
// Instances is buf[:0] with the replicas appended. The entries share their
// Tokens with the ring and must not be modified.
func (r *Ring) Get(key uint32, op Operation, buf []ringpb.InstanceDesc) (ReplicationSet, error) {
	nowMs := r.now().UnixMilli()
	rf := r.cfg.ReplicationFactor
	zoneAware := r.cfg.ZoneAwarenessEnabled

	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.tokens) == 0 {
		return ReplicationSet{}, fmt.Errorf("ring %s: %w", r.name, ErrEmptyRing)
	}
	var seenBuf, zonesBuf [16]int32
	seen, zonesUsed := seenBuf[:0], zonesBuf[:0]
	buf = buf[:0]
	replicas, unhealthy := 0, 0
	n := len(r.tokens)
	start := sort.Search(n, func(i int) bool { return r.tokens[i] >= key })
	for i := 0; i < n && replicas < rf && len(seen) < r.inTable; i++ {
		idx := r.owners[(start+i)%n]
		if slices.Contains(seen, idx) {
			continue
		}
		seen = append(seen, idx)
		in := &r.instances[idx]
		if zoneAware && slices.Contains(zonesUsed, r.zoneOf[idx]) {
			continue
		}
		if !op.accepts(in.State) {
			// JOINING, LEAVING, PENDING: not a replica, look further. Its
			// zone stays open for another instance.
			continue
		}
		if zoneAware {
			zonesUsed = append(zonesUsed, r.zoneOf[idx])
		}
		replicas++
		if !r.healthy(in, nowMs) {
			unhealthy++
			continue
		}
		buf = append(buf, *in)
	}
	quorum := rf/2 + 1
	if len(buf) < quorum {
		return ReplicationSet{}, fmt.Errorf("ring %s: %w: replication factor %d needs %d healthy replicas, found %d healthy of %d replicas; the ring has %d instances with tokens",
			r.name, ErrNoQuorum, rf, quorum, len(buf), replicas, r.inTable)
	}
	return ReplicationSet{Instances: buf, MaxErrors: len(buf) - quorum}, nil
}

// GetAll returns every instance that answers op (ACTIVE and LEAVING ones for
// a read, ACTIVE ones for a write), for requests that must reach the whole
// ring, such as queries: series are spread over all instances. The ring
// tolerates replication-factor/2 failed instances (or, zone-aware, that
// many failed zones, at most all zones but one); unhealthy ones are left
// out and use up that allowance, and whole zones with an unhealthy instance
// are left out. It fails with ErrEmptyRing or ErrNoQuorum.
func (r *Ring) GetAll(op Operation) (ReplicationSet, error) {
	nowMs := r.now().UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()

	var failedZones []int32
	var healthy []int
	unhealthy, eligible := 0, 0
	for i := range r.instances {
		in := &r.instances[i]
		if !op.accepts(in.State) {
			continue
		}
		eligible++
		if !r.healthy(in, nowMs) {
			unhealthy++
			if !slices.Contains(failedZones, r.zoneOf[i]) {
				failedZones = append(failedZones, r.zoneOf[i])
			}
			continue
		}
		healthy = append(healthy, i)
	}
	if eligible == 0 {
		return ReplicationSet{}, fmt.Errorf("ring %s: %w", r.name, ErrEmptyRing)
	}
	tolerated := r.cfg.ReplicationFactor / 2
	if r.cfg.ZoneAwarenessEnabled {
		tolerated = min(tolerated, r.numZones-1)
		left := tolerated - len(failedZones)
		if left < 0 {
			return ReplicationSet{}, fmt.Errorf("ring %s: %w: %d zones have unhealthy instances, %d tolerated", r.name, ErrNoQuorum, len(failedZones), tolerated)
		}
		set := ReplicationSet{MaxUnavailableZones: left}
		for _, i := range healthy {
			if !slices.Contains(failedZones, r.zoneOf[i]) {
				set.Instances = append(set.Instances, r.instances[i])
			}
		}
		return set, nil
	}
	tolerated = min(tolerated, eligible-1)
	if unhealthy > tolerated {
		return ReplicationSet{}, fmt.Errorf("ring %s: %w: %d of %d instances unhealthy, %d tolerated", r.name, ErrNoQuorum, unhealthy, eligible, tolerated)
	}
	set := ReplicationSet{MaxErrors: tolerated - unhealthy, Instances: make([]ringpb.InstanceDesc, 0, len(healthy))}
	for _, i := range healthy {
		set.Instances = append(set.Instances, r.instances[i])
	}
	return set, nil
}

// SingleOwner reports whether at most one instance owns tokens, so that
// [Ring.Get] answers the same for every key (the all-in-one): a caller
// placing many keys may then ask once.
func (r *Ring) SingleOwner() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.inTable <= 1
}

// InstancesCount returns the number of instances in the ring (LEFT ones
// excluded).
func (r *Ring) InstancesCount() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.instances)
}

// HealthyInstancesCount returns the number of ACTIVE instances with a
// recent heartbeat, e.g. to divide a global rate limit between distributors.
func (r *Ring) HealthyInstancesCount() int {
	nowMs := r.now().UnixMilli()
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for i := range r.instances {
		if r.instances[i].State == Active && r.healthy(&r.instances[i], nowMs) {
			n++
		}
	}
	return n
}

// Forget replaces a (dead) instance's entry with a LEFT tombstone, removing
// it from every ring that shares the key. An instance that is still alive
// comes back with its next heartbeat.
func (r *Ring) Forget(ctx context.Context, id string) error {
	var found bool
	err := r.kv.Update(ctx, r.cfg.KVKey, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		d, _ := old.(*Desc)
		if d == nil {
			found = false
			return nil, false, nil
		}
		found = d.Forget(id, r.now())
		if !found {
			return nil, false, nil
		}
		return d, false, nil
	})
	if err != nil {
		return fmt.Errorf("forgetting %s in ring %s: %w", id, r.name, err)
	}
	if !found {
		return fmt.Errorf("forgetting %s in ring %s: %w", id, r.name, ErrUnknownInstance)
	}
	r.logger.Info("Forgot instance", "instance", id)
	return nil
}

// ErrUnknownInstance is returned by [Ring.Forget] for an instance that is
// not in the ring.
var ErrUnknownInstance = errors.New("unknown instance")

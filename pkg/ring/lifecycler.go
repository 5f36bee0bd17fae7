package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// stopTimeout bounds the writes a stopping lifecycler makes.
const stopTimeout = 10 * time.Second

// Lifecycler registers this process as one instance of a ring and keeps
// its entry alive. It is a service ([Lifecycler.Service]):
//
//   - starting: registers the instance as PENDING, claims its tokens
//     (from -<prefix>tokens-file-path, its surviving entry, or random) as
//     JOINING, stores them in the tokens file, then becomes ACTIVE. An
//     instance whose entry survived a restart as ACTIVE takes it over
//     directly, so its keys do not move.
//   - running: refreshes the heartbeat every -<prefix>heartbeat-period and
//     restores its entry if someone forgot it.
//   - stopping: with [Lifecycler.SetUnregisterOnShutdown] true (the
//     default), goes LEAVING and then leaves a LEFT tombstone; with false it
//     keeps its entry and tokens for a restart (WAL-based ingesters).
//
// Its methods are safe for concurrent use.
type Lifecycler struct {
	cfg    Config
	name   string
	kv     kv.Client
	logger *slog.Logger
	svc    *services.Service
	now    func() time.Time // tests replace it
	rnd    func() uint32

	heartbeatFailures prometheus.Counter

	mu         sync.Mutex
	entry      ringpb.InstanceDesc // this instance as last written, tokens included
	registered bool                // an entry was written
	unregister bool
}

// NewLifecycler returns a lifecycler for the instance described by cfg
// (-<prefix>instance-*) in the ring at cfg.KVKey. name is the ring's name
// for logs and metrics ("ingester").
func NewLifecycler(cfg Config, name string, client kv.Client, logger *slog.Logger, reg prometheus.Registerer) (*Lifecycler, error) {
	err := errors.Join(cfg.Validate(), cfg.validateLifecycler())
	if err != nil {
		return nil, fmt.Errorf("ring %s lifecycler config: %w", name, err)
	}
	host := cfg.InstanceAddr
	if host == "" {
		host = firstPrivateAddr()
	}
	l := &Lifecycler{
		cfg:    cfg,
		name:   name,
		kv:     client,
		logger: logger.With("ring", name, "instance", cfg.InstanceID),
		now:    time.Now,
		rnd:    rand.Uint32,
		heartbeatFailures: promauto.With(reg).NewCounter(prometheus.CounterOpts{
			Name:        "hearth_ring_heartbeat_failures_total",
			Help:        "Heartbeats of this instance that could not be written to the KV.",
			ConstLabels: prometheus.Labels{"name": name},
		}),
		entry: ringpb.InstanceDesc{
			Id:   cfg.InstanceID,
			Addr: net.JoinHostPort(host, strconv.Itoa(cfg.InstancePort)),
			Zone: cfg.InstanceZone,
		},
		unregister: true,
	}
	l.svc = services.New(name+"-lifecycler", l.starting, l.running, l.stopping)
	return l, nil
}

// firstPrivateAddr returns this host's first private IPv4 address, else its
// first non-loopback one, else 127.0.0.1.
func firstPrivateAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "127.0.0.1"
	}
	var fallback string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.To4() == nil {
			continue
		}
		if ipn.IP.IsPrivate() {
			return ipn.IP.String()
		}
		if fallback == "" {
			fallback = ipn.IP.String()
		}
	}
	if fallback != "" {
		return fallback
	}
	return "127.0.0.1"
}

// Service returns the lifecycler's service: Running once the instance is
// ACTIVE.
func (l *Lifecycler) Service() *services.Service { return l.svc }

// ID returns the instance ID.
func (l *Lifecycler) ID() string { return l.cfg.InstanceID }

// Addr returns the address registered for the instance.
func (l *Lifecycler) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entry.Addr
}

// State returns the instance's state as last written.
func (l *Lifecycler) State() ringpb.InstanceState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.entry.State
}

// Tokens returns the instance's tokens (sorted; the caller may keep them).
func (l *Lifecycler) Tokens() []uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.entry.Tokens)
}

// SetUnregisterOnShutdown says whether stopping leaves the ring (true, the
// default) or keeps the instance's entry and tokens for a restart.
func (l *Lifecycler) SetUnregisterOnShutdown(v bool) {
	l.mu.Lock()
	l.unregister = v
	l.mu.Unlock()
}

// ChangeState moves the instance to state (not LEFT: stop the lifecycler to
// leave) and writes it to the ring.
func (l *Lifecycler) ChangeState(ctx context.Context, state ringpb.InstanceState) error {
	if state == Left || stateRank(state) > stateRank(Leaving) {
		return fmt.Errorf("changing ring %s state of %s to %s: not allowed", l.name, l.cfg.InstanceID, StateName(state))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writeLocked(ctx, state)
}

// writeLocked writes the instance's entry in state with a new heartbeat.
func (l *Lifecycler) writeLocked(ctx context.Context, state ringpb.InstanceState) error {
	entry := l.entry
	entry.State = state
	var written ringpb.InstanceDesc
	err := l.kv.Update(ctx, l.cfg.KVKey, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		d, _ := old.(*Desc)
		if d == nil {
			d = NewDesc()
		}
		written = writeEntry(d, entry, l.now())
		return d, false, nil
	})
	if err != nil {
		return fmt.Errorf("writing %s as %s to ring %s: %w", l.cfg.InstanceID, StateName(state), l.name, err)
	}
	if state != l.entry.State {
		l.logger.Info("Changed ring state", "from", StateName(l.entry.State), "to", StateName(state))
	}
	l.entry.State = state
	l.entry.HeartbeatUnixMs = written.HeartbeatUnixMs
	l.registered = true
	return nil
}

func (l *Lifecycler) starting(ctx context.Context) error {
	var fileTokens []uint32
	if l.cfg.TokensFilePath != "" {
		var err error
		if fileTokens, err = loadTokens(l.cfg.TokensFilePath); err != nil {
			return err
		}
	}
	v, err := l.kv.Get(ctx, l.cfg.KVKey)
	if err != nil {
		return fmt.Errorf("reading ring %s: %w", l.name, err)
	}
	d, _ := v.(*Desc)

	l.mu.Lock()
	defer l.mu.Unlock()
	plan := planJoin(d, l.entry, fileTokens, l.cfg.NumTokens, l.now(), l.rnd)
	l.entry = plan.entry
	if plan.resumed {
		l.logger.Info("Resuming the instance's ring entry", "tokens", len(plan.entry.Tokens))
		if err := l.writeLocked(ctx, Active); err != nil {
			return err
		}
		return l.saveTokensLocked()
	}
	for _, s := range []ringpb.InstanceState{Pending, Joining} {
		if err := l.writeLocked(ctx, s); err != nil {
			return err
		}
	}
	if err := l.saveTokensLocked(); err != nil {
		return err
	}
	return l.writeLocked(ctx, Active)
}

func (l *Lifecycler) saveTokensLocked() error {
	if l.cfg.TokensFilePath == "" {
		return nil
	}
	return storeTokens(l.cfg.TokensFilePath, l.entry.Tokens)
}

func (l *Lifecycler) running(ctx context.Context) error {
	t := time.NewTicker(l.cfg.HeartbeatPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			l.mu.Lock()
			err := l.writeLocked(ctx, l.entry.State)
			l.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				l.heartbeatFailures.Inc()
				l.logger.Warn("Heartbeat", "err", err)
			}
		}
	}
}

func (l *Lifecycler) stopping(error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.registered {
		return nil
	}
	if !l.unregister {
		l.logger.Info("Keeping the instance's ring entry and tokens for a restart")
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	if err := l.writeLocked(ctx, Leaving); err != nil {
		return err
	}
	err := l.kv.Update(ctx, l.cfg.KVKey, func(old kv.Mergeable) (kv.Mergeable, bool, error) {
		d, _ := old.(*Desc)
		if d == nil {
			d = NewDesc()
		}
		cur, ok := d.Instances[l.entry.Id]
		if !ok {
			cur = l.entry
		}
		cur.HeartbeatUnixMs = max(cur.HeartbeatUnixMs, l.entry.HeartbeatUnixMs)
		d.Instances[l.entry.Id] = tombstone(cur, l.now())
		return d, false, nil
	})
	if err != nil {
		return fmt.Errorf("leaving ring %s: %w", l.name, err)
	}
	l.entry.State = Left
	l.logger.Info("Left the ring")
	return nil
}

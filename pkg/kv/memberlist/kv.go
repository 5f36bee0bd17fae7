package memberlist

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/internal/store"
	"github.com/hearthmetrics/hearth/pkg/services"
)

// maxGossipMessage is the largest broadcast sent in a UDP gossip packet:
// memberlist's 1400-byte packet less its headers and the encryption
// overhead. Larger changes are sent over TCP to -memberlist.gossip-nodes
// members instead.
const maxGossipMessage = 1300

// KV is the gossiped key-value store of one process. It is safe for
// concurrent use; clients work before the service starts (changes are then
// local until the first join) and after it stops.
type KV struct {
	cfg    Config
	logger *slog.Logger
	m      *metrics
	store  *store.Store
	queue  *memberlist.TransmitLimitedQueue
	svc    *services.Service

	codecsMu sync.RWMutex
	codecs   map[string]kv.Codec

	// key encrypts and authenticates gossip; nil sends it in clear text.
	key []byte

	ml       atomic.Pointer[memberlist.Memberlist]
	reliable chan []byte // large changes waiting to be sent over TCP
	workers  sync.WaitGroup
}

// New returns a KV that starts gossiping when its service starts. Gossip
// is encrypted and authenticated when cfg.SecretKey is set; see [NewWithKey]
// for a key derived elsewhere.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*KV, error) {
	return NewWithKey(cfg, nil, logger, reg)
}

// NewWithKey is [New] with a gossip key (16, 24 or 32 bytes: AES-128, -192
// or -256) used when cfg.SecretKey is empty, such as one derived from the
// cluster secret. With a key every gossip message, UDP and TCP, is
// encrypted and authenticated with AES-GCM, and a message without it (from
// a member without the key, or with another) is dropped: such a member can
// neither join nor have its state merged. A nil key and no cfg.SecretKey
// send gossip in clear text.
func NewWithKey(cfg Config, key []byte, logger *slog.Logger, reg prometheus.Registerer) (*KV, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("memberlist config: %w", err)
	}
	if cfg.SecretKey != "" {
		k := sha256.Sum256([]byte(cfg.SecretKey))
		key = k[:]
	}
	switch len(key) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("gossip key of %d bytes: want 16, 24 or 32", len(key))
	}
	if cfg.NodeName == "" {
		name, err := defaultNodeName()
		if err != nil {
			return nil, err
		}
		cfg.NodeName = name
	}
	k := &KV{
		cfg:      cfg,
		logger:   logger.With("component", "memberlist"),
		store:    store.New(),
		codecs:   map[string]kv.Codec{},
		reliable: make(chan []byte, 64),
		key:      bytes.Clone(key),
	}
	k.queue = &memberlist.TransmitLimitedQueue{NumNodes: k.numMembers, RetransmitMult: cfg.RetransmitFactor}
	k.m = newMetrics(reg, k)
	k.svc = services.New("memberlist-kv", k.starting, k.running, k.stopping)
	return k, nil
}

func defaultNodeName() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("reading hostname for the memberlist node name: %w", err)
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix) // never fails (crypto/rand)
	return host + "-" + hex.EncodeToString(suffix), nil
}

// Service returns the KV's service. It starts by joining the cluster and
// stops by leaving it.
func (k *KV) Service() *services.Service { return k.svc }

// NodeName returns this member's name.
func (k *KV) NodeName() string { return k.cfg.NodeName }

// Encrypted reports whether gossip is encrypted and authenticated.
func (k *KV) Encrypted() bool { return k.key != nil }

// Addr returns the host:port this member gossips on, once started.
func (k *KV) Addr() string {
	if ml := k.ml.Load(); ml != nil {
		return ml.LocalNode().Address()
	}
	return ""
}

// Members returns the names of the members this one knows to be alive,
// itself included.
func (k *KV) Members() []string {
	ml := k.ml.Load()
	if ml == nil {
		return nil
	}
	var out []string
	for _, n := range ml.Members() {
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

func (k *KV) numMembers() int {
	if ml := k.ml.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// Client returns a client for the values of codec. Every process must
// create the clients of the codecs it wants to receive before the KV
// starts; values of unknown codecs are dropped (and counted).
func (k *KV) Client(codec kv.Codec) kv.Client {
	k.codecsMu.Lock()
	k.codecs[codec.ID()] = codec
	k.codecsMu.Unlock()
	return &client{kv: k, codec: codec}
}

func (k *KV) codec(id string) kv.Codec {
	k.codecsMu.RLock()
	defer k.codecsMu.RUnlock()
	return k.codecs[id]
}

type client struct {
	kv    *KV
	codec kv.Codec
}

var _ kv.Client = (*client)(nil)

func (c *client) Get(_ context.Context, key string) (kv.Mergeable, error) {
	v, _ := c.kv.store.Get(key)
	return v, nil
}

func (c *client) Update(ctx context.Context, key string, f kv.UpdateFunc) error {
	ch, err := c.kv.store.Update(ctx, key, c.codec.ID(), f)
	if err != nil {
		return err
	}
	if ch != nil {
		c.kv.broadcast(ch)
	}
	return nil
}

func (c *client) WatchKey(ctx context.Context, key string, f func(kv.Mergeable) bool) {
	c.kv.store.Watch(ctx, key, f)
}

// broadcast queues a change for gossip.
func (k *KV) broadcast(ch *store.Change) {
	codec := k.codec(ch.CodecID)
	if codec == nil {
		return // only values of registered codecs are stored
	}
	data, err := codec.Encode(ch.Value)
	if err != nil {
		k.logger.Error("Encoding a change for gossip", "key", ch.Key, "err", err)
		return
	}
	msg := appendRecords(nil, record{key: ch.Key, codecID: ch.CodecID, value: data})
	if len(msg) > maxGossipMessage {
		select {
		case k.reliable <- msg:
			k.m.broadcasts.WithLabelValues("tcp").Inc()
		default:
			// Push/pull will carry the change instead.
			k.m.dropped.Inc()
		}
		return
	}
	content := ch.Value.MergeContent()
	slices.Sort(content)
	k.queue.QueueBroadcast(&broadcast{key: ch.Key, content: content, msg: msg})
	k.m.broadcasts.WithLabelValues("udp").Inc()
}

// merge merges records received from a peer. Changes are passed on to
// other members when rebroadcast is set.
func (k *KV) merge(recs []record, rebroadcast bool) {
	for _, r := range recs {
		codec := k.codec(r.codecID)
		if codec == nil {
			k.m.invalid.WithLabelValues("unknown_codec").Inc()
			continue
		}
		v, err := codec.Decode(r.value)
		if err != nil {
			k.m.invalid.WithLabelValues("decode").Inc()
			k.logger.Debug("Decoding a gossiped value", "key", r.key, "codec", r.codecID, "err", err)
			continue
		}
		ch, err := k.store.Merge(r.key, r.codecID, v)
		if err != nil {
			k.m.invalid.WithLabelValues("merge").Inc()
			k.logger.Warn("Merging a gossiped value", "key", r.key, "err", err)
			continue
		}
		if ch != nil && rebroadcast {
			k.broadcast(ch)
		}
	}
}

func (k *KV) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = k.cfg.NodeName
	c.BindAddr = k.cfg.BindAddr
	c.BindPort = k.cfg.BindPort
	c.AdvertiseAddr = k.cfg.AdvertiseAddr
	c.AdvertisePort = k.cfg.AdvertisePort
	if c.AdvertisePort == 0 {
		c.AdvertisePort = k.cfg.BindPort
	}
	c.GossipInterval = k.cfg.GossipInterval
	c.GossipNodes = k.cfg.GossipNodes
	c.RetransmitMult = k.cfg.RetransmitFactor
	c.PushPullInterval = k.cfg.PushPullInterval
	c.Delegate = (*delegate)(k)
	c.Logger = newStdLogger(k.logger)
	if k.key != nil {
		ring, err := memberlist.NewKeyring(nil, k.key)
		if err != nil {
			return nil, fmt.Errorf("building the gossip keyring: %w", err)
		}
		c.Keyring = ring
		// Both on: nothing unencrypted is sent or accepted.
		c.GossipVerifyIncoming, c.GossipVerifyOutgoing = true, true
	}
	return c, nil
}

func (k *KV) starting(ctx context.Context) error {
	c, err := k.memberlistConfig()
	if err != nil {
		return err
	}
	ml, err := memberlist.Create(c)
	if err != nil {
		return fmt.Errorf("starting memberlist: %w", err)
	}
	k.ml.Store(ml)
	k.logger.Info("Memberlist started", "node", k.cfg.NodeName, "addr", ml.LocalNode().Address())
	k.join(ctx)
	return nil
}

func (k *KV) running(ctx context.Context) error {
	k.workers.Add(1)
	go func() {
		defer k.workers.Done()
		k.sendReliable(ctx)
	}()

	tombstoneEvery := max(k.cfg.LeftInstancesTimeout/10, 10*time.Millisecond)
	tombstones := time.NewTicker(tombstoneEvery)
	defer tombstones.Stop()

	// Rejoin sooner while no join succeeded yet.
	joined := k.joinedOnce()
	backoff := time.Second
	var rejoin <-chan time.Time
	resetRejoin := func() {
		switch {
		case len(k.cfg.Join) == 0:
		case !joined:
			rejoin = time.After(backoff)
			backoff = min(2*backoff, max(k.cfg.RejoinInterval, time.Second))
		case k.cfg.RejoinInterval > 0:
			rejoin = time.After(k.cfg.RejoinInterval)
		default:
			rejoin = nil
		}
	}
	resetRejoin()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tombstones.C:
			if n := k.store.RemoveTombstones(now.Add(-k.cfg.LeftInstancesTimeout)); n > 0 {
				k.m.tombstones.Add(float64(n))
			}
		case <-rejoin:
			if k.join(ctx) {
				joined = true
			}
			resetRejoin()
		}
	}
}

// joinedOnce reports whether this member knows another one.
func (k *KV) joinedOnce() bool { return k.numMembers() > 1 }

func (k *KV) stopping(error) error {
	k.workers.Wait()
	ml := k.ml.Load()
	if ml == nil {
		return nil
	}
	// Give the last changes (a lifecycler's LEFT tombstone) a chance to
	// leave this process before it does.
	deadline := time.Now().Add(k.cfg.LeaveTimeout / 2)
	for k.queue.NumQueued() > 0 && time.Now().Before(deadline) && ml.NumMembers() > 1 {
		time.Sleep(k.cfg.GossipInterval)
	}
	// A leave that is not acknowledged in time is no failure: the other
	// members find this one gone by probing it. Only shutting down can fail.
	if err := ml.Leave(k.cfg.LeaveTimeout / 2); err != nil {
		k.logger.Warn("Leaving the memberlist cluster timed out; peers will notice by probing", "err", err, "flag", "-memberlist.leave-timeout")
	}
	if err := ml.Shutdown(); err != nil {
		return fmt.Errorf("shutting memberlist down: %w", err)
	}
	return nil
}

// sendReliable sends large changes over TCP to a few random members.
func (k *KV) sendReliable(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case msg := <-k.reliable:
			ml := k.ml.Load()
			if ml == nil {
				continue
			}
			local := ml.LocalNode().Name
			members := ml.Members()
			sent := 0
			for _, i := range randPerm(len(members)) {
				if sent >= k.cfg.GossipNodes {
					break
				}
				n := members[i]
				if n.Name == local {
					continue
				}
				if err := ml.SendReliable(n, msg); err != nil {
					k.logger.Debug("Sending a change over TCP", "member", n.Name, "err", err)
					continue
				}
				sent++
			}
		}
	}
}

// broadcast is a queued change. A later change of the same key that covers
// the same content supersedes it.
type broadcast struct {
	key     string
	content []string // sorted
	msg     []byte
}

var _ memberlist.Broadcast = (*broadcast)(nil)

func (b *broadcast) Invalidates(other memberlist.Broadcast) bool {
	o, ok := other.(*broadcast)
	if !ok || o.key != b.key {
		return false
	}
	for _, c := range o.content {
		if _, found := slices.BinarySearch(b.content, c); !found {
			return false
		}
	}
	return true
}

func (b *broadcast) Message() []byte { return b.msg }
func (b *broadcast) Finished()       {}

// delegate receives memberlist's callbacks; a separate type keeps them out
// of KV's API.
type delegate KV

var _ memberlist.Delegate = (*delegate)(nil)

func (d *delegate) NodeMeta(int) []byte { return nil }

func (d *delegate) NotifyMsg(b []byte) {
	k := (*KV)(d)
	k.m.received.WithLabelValues("broadcast").Inc()
	recs, err := parseRecords(b)
	if err != nil {
		k.m.invalid.WithLabelValues("parse").Inc()
		return
	}
	k.merge(recs, true)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *delegate) LocalState(bool) []byte {
	k := (*KV)(d)
	var recs []record
	k.store.Snapshot(func(key, codecID string, v kv.Mergeable) {
		codec := k.codec(codecID)
		if codec == nil {
			return
		}
		data, err := codec.Encode(v)
		if err != nil {
			k.logger.Error("Encoding the local state", "key", key, "err", err)
			return
		}
		recs = append(recs, record{key: key, codecID: codecID, value: data})
	})
	return appendRecords(nil, recs...)
}

func (d *delegate) MergeRemoteState(buf []byte, _ bool) {
	k := (*KV)(d)
	k.m.received.WithLabelValues("state").Inc()
	recs, err := parseRecords(buf)
	if err != nil {
		k.m.invalid.WithLabelValues("parse").Inc()
		return
	}
	k.merge(recs, false)
}

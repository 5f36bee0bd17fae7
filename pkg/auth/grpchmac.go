package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// The shared-secret mode never sends the secret. Every call carries
//
//	x-hearth-cluster-auth: v1:<unix ms>:<nonce>:<mac>
//
// where nonce is 16 random bytes and mac is HMAC-SHA256, keyed with a key
// derived from the cluster secret, over the server's address as dialled
// (:authority), the full method, the tenant metadata, the timestamp and the
// nonce (both base64url, unpadded). A server refuses a call whose timestamp
// is more than clockWindow from its clock, whose :authority is not one of
// its own addresses, whose MAC is wrong, or whose nonce it has seen: a
// captured header is good for one call, to the server it was made for,
// within the window. It is checked in the transport, before the message is
// read.
//
// The body is not covered. Per-call credentials are computed before the
// message is serialized, so a digest would mean serializing every push
// twice on the sender and hashing up to the message limit on the receiver,
// after reading it, which is what authenticating on headers avoids. Someone
// on the path could therefore swap the body of a call within the window;
// an attacker there is what mutual TLS, the production mode, stops.
const (
	clusterAuthKey = "x-hearth-cluster-auth"
	// tenantMetadataKey is pkg/tenant's metadata key (TestHMACCoversTheTenant
	// fails if they differ).
	tenantMetadataKey = "x-scope-orgid"
	hmacKeyInfo       = "hearth grpc hmac key v1"

	// clockWindow is how far a call's timestamp may be from the server's
	// clock: NTP keeps peers within milliseconds, and a call is checked
	// when its headers arrive, before any queueing.
	clockWindow = 30 * time.Second
	// maxNonces bounds the replay cache: a nonce is kept up to two windows
	// (its timestamp may be one window ahead), so this allows ~17,000
	// calls per second per server, at ~40 bytes each (~80 MiB). Past it
	// calls are refused with ResourceExhausted rather than remembered
	// unboundedly.
	maxNonces = 1 << 21
	nonceLen  = 16
)

// hmacCredentials signs every call; see clusterAuthKey.
type hmacCredentials struct {
	c   *Cluster
	tls bool
}

var _ credentials.PerRPCCredentials = hmacCredentials{}

// GetRequestMetadata signs the call. uri is "https://<authority><service>".
func (h hmacCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	ri, ok := credentials.RequestInfoFromContext(ctx)
	if !ok || len(uri) == 0 {
		return nil, status.Error(codes.Internal, "cluster credential: no request info")
	}
	authority, _, _ := strings.Cut(strings.TrimPrefix(uri[0], "https://"), "/")
	md, _ := metadata.FromOutgoingContext(ctx)
	var nonce [nonceLen]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	ts := strconv.FormatInt(h.c.now().UnixMilli(), 10)
	n := base64.RawURLEncoding.EncodeToString(nonce[:])
	mac := h.c.mac(authority, ri.Method, md.Get(tenantMetadataKey), ts, n)
	return map[string]string{clusterAuthKey: "v1:" + ts + ":" + n + ":" + base64.RawURLEncoding.EncodeToString(mac)}, nil
}

// RequireTransportSecurity is false: the MAC keeps strangers out without
// TLS; with mutual TLS configured the transport is TLS anyway.
func (h hmacCredentials) RequireTransportSecurity() bool { return h.tls }

// mac computes the call's MAC; every field is length-prefixed.
func (c *Cluster) mac(authority, method string, tenants []string, ts, nonce string) []byte {
	m := hmac.New(sha256.New, c.hmacKey)
	var buf [binary.MaxVarintLen64]byte
	field := func(s string) {
		m.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		m.Write([]byte(s))
	}
	field("v1")
	field(normalizeAuthority(authority))
	field(method)
	m.Write(buf[:binary.PutUvarint(buf[:], uint64(len(tenants)))])
	for _, t := range tenants {
		field(t)
	}
	field(ts)
	field(nonce)
	return m.Sum(nil)
}

// normalizeAuthority drops the default port, as gRPC does in the audience
// it hands to per-call credentials.
func normalizeAuthority(a string) string { return strings.TrimSuffix(a, ":443") }

// AddAudience makes the server accept calls dialled to addr (host:port):
// the addresses this process advertises in rings and the one it is bound
// to. A call signed for another address is refused, so a header captured
// by one member cannot be replayed to another.
func (c *Cluster) AddAudience(addr string) {
	c.audMu.Lock()
	defer c.audMu.Unlock()
	c.audiences[normalizeAuthority(addr)] = true
}

func (c *Cluster) hasAudience(a string) bool {
	c.audMu.RLock()
	defer c.audMu.RUnlock()
	return c.audiences[normalizeAuthority(a)]
}

// tapHandle authenticates a call from its headers, before gRPC creates the
// stream and reads any of the message: an unauthenticated 90 MiB push
// costs its headers. It runs on the connection's reader goroutine, so it
// does no I/O and nothing slow.
func (c *Cluster) tapHandle(ctx context.Context, info *tap.Info) (context.Context, error) {
	if err := c.verify(info.FullMethodName, info.Header); err != nil {
		return ctx, err
	}
	return ctx, nil
}

// verify checks a call's signature header; see clusterAuthKey.
func (c *Cluster) verify(method string, md metadata.MD) error {
	vals := md.Get(clusterAuthKey)
	if len(vals) != 1 {
		return c.refuse("missing", "no cluster credential (this server requires the cluster secret: -auth.cluster-secret-file)")
	}
	parts := strings.Split(vals[0], ":")
	if len(parts) != 4 || parts[0] != "v1" {
		return c.refuse("malformed", "malformed cluster credential")
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	nonce, nerr := base64.RawURLEncoding.DecodeString(parts[2])
	mac, merr := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || nerr != nil || merr != nil || len(nonce) != nonceLen {
		return c.refuse("malformed", "malformed cluster credential")
	}
	now := c.now()
	ts := time.UnixMilli(ms)
	if d := now.Sub(ts); d > clockWindow || d < -clockWindow {
		return c.refuse("clock", fmt.Sprintf("cluster credential timestamp %s from this server's clock, more than %s: replayed, or clocks differ (check NTP)", d.Round(time.Millisecond), clockWindow))
	}
	auth := md.Get(":authority")
	if len(auth) != 1 {
		return c.refuse("audience", "no :authority")
	}
	if !hmac.Equal(mac, c.mac(auth[0], method, md.Get(tenantMetadataKey), parts[1], parts[2])) {
		return c.refuse("signature", "wrong cluster credential (another cluster secret?)")
	}
	if !c.hasAudience(auth[0]) {
		return c.refuse("audience", fmt.Sprintf("cluster credential made for %q, which is not this server", auth[0]))
	}
	switch c.nonces.add([nonceLen]byte(nonce), ts, now) {
	case nonceReplayed:
		return c.refuse("replay", "cluster credential already used")
	case nonceCacheFull:
		c.refused.WithLabelValues("cache_full").Inc()
		return status.Error(codes.ResourceExhausted, "too many calls in the cluster credential's replay window")
	}
	return nil
}

func (c *Cluster) refuse(reason, msg string) error {
	c.refused.WithLabelValues(reason).Inc()
	return status.Error(codes.Unauthenticated, msg)
}

type nonceResult int

const (
	nonceNew nonceResult = iota
	nonceReplayed
	nonceCacheFull
)

// nonceCache remembers the nonces of accepted calls while their timestamps
// are within the window, in buckets of one window by timestamp: a replay
// carries the same timestamp, so only its bucket is looked in, and a bucket
// is dropped whole once every timestamp in it is out of the window.
type nonceCache struct {
	mu      sync.Mutex
	buckets map[int64]map[[nonceLen]byte]struct{}
	n       int
	max     int
}

func newNonceCache(max int) *nonceCache {
	return &nonceCache{buckets: map[int64]map[[nonceLen]byte]struct{}{}, max: max}
}

func (c *nonceCache) add(nonce [nonceLen]byte, ts, now time.Time) nonceResult {
	w := clockWindow.Milliseconds()
	oldest := now.Add(-clockWindow).UnixMilli() / w
	c.mu.Lock()
	defer c.mu.Unlock()
	for b, m := range c.buckets {
		if b+1 <= oldest {
			c.n -= len(m)
			delete(c.buckets, b)
		}
	}
	b := ts.UnixMilli() / w
	m := c.buckets[b]
	if _, ok := m[nonce]; ok {
		return nonceReplayed
	}
	if c.n >= c.max {
		return nonceCacheFull
	}
	if m == nil {
		m = map[[nonceLen]byte]struct{}{}
		c.buckets[b] = m
	}
	m[nonce] = struct{}{}
	c.n++
	return nonceNew
}

// len returns the number of nonces remembered.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

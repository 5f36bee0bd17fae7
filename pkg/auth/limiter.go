package auth

import (
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxSources bounds the buckets a limiter remembers; past it, buckets that
// have refilled are forgotten, and if none has, all are.
const maxSources = 100_000

// failureLimiter is a token bucket per key. The authenticator keeps three:
// failures per (source, claimed tenant or key id), failures of the operator
// credential per source, and reads of key ids not known to exist per source.
// Only failures (or reads) create buckets, so a key that never fails costs
// one lock-free map read per request.
type failureLimiter struct {
	rate  float64 // tokens per second
	burst float64

	sources sync.Map // string → *bucket
	n       atomic.Int64
}

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newFailureLimiter(rate float64, burst int) *failureLimiter {
	return &failureLimiter{rate: rate, burst: float64(burst)}
}

// refill brings b up to now; b.mu must be held.
func (l *failureLimiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
}

// blocked reports whether src has no token left, and when it will.
func (l *failureLimiter) blocked(src string, now time.Time) (bool, time.Duration) {
	if l.n.Load() == 0 {
		return false, 0
	}
	v, ok := l.sources.Load(src)
	if !ok {
		return false, 0
	}
	b := v.(*bucket)
	b.mu.Lock()
	defer b.mu.Unlock()
	l.refill(b, now)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// fail takes one token from src's bucket, if it has one.
func (l *failureLimiter) fail(src string, now time.Time) {
	b := l.bucket(src, now)
	b.mu.Lock()
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
	b.mu.Unlock()
}

// take takes one token from src's bucket and reports whether it had one.
func (l *failureLimiter) take(src string, now time.Time) bool {
	b := l.bucket(src, now)
	b.mu.Lock()
	defer b.mu.Unlock()
	l.refill(b, now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// bucket returns src's bucket, creating a full one.
func (l *failureLimiter) bucket(src string, now time.Time) *bucket {
	v, ok := l.sources.Load(src)
	if !ok {
		if l.n.Load() >= maxSources {
			l.sweep(now)
		}
		v, ok = l.sources.LoadOrStore(src, &bucket{tokens: l.burst, last: now})
		if !ok {
			l.n.Add(1)
		}
	}
	return v.(*bucket)
}

// sweep forgets sources whose bucket is full again, or every source when
// none is.
func (l *failureLimiter) sweep(now time.Time) {
	removed := 0
	l.sources.Range(func(k, v any) bool {
		b := v.(*bucket)
		b.mu.Lock()
		l.refill(b, now)
		full := b.tokens >= l.burst
		b.mu.Unlock()
		if full {
			l.sources.Delete(k)
			l.n.Add(-1)
			removed++
		}
		return true
	})
	if removed == 0 {
		l.sources.Clear()
		l.n.Store(0)
	}
}

// source names the client of r for rate limiting: its IP address, or the
// /64 of an IPv6 address (one host commonly holds a whole /64). Proxy
// headers are not trusted.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !strings.Contains(host, ":") {
		return host // IPv4
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// pairKey is the failure limiter's key of a request from src claiming
// principal (a tenant, a key id, or "" when the credential names neither).
func pairKey(src, principal string) string { return src + "\x00" + principal }

// active reports whether any source has failed recently.
func (l *failureLimiter) active() bool { return l.n.Load() != 0 }

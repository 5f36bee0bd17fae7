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

// maxSources bounds the sources the failure limiter remembers; past it,
// sources whose bucket has refilled are forgotten, and if none has, all are.
const maxSources = 100_000

// failureLimiter is a token bucket of authentication failures per source.
// Only failures create buckets, so a source that never fails costs one
// lock-free map read per request.
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

// blocked reports whether src has no failure left, and when it will.
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

// fail takes one token from src's bucket.
func (l *failureLimiter) fail(src string, now time.Time) {
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
	b := v.(*bucket)
	b.mu.Lock()
	l.refill(b, now)
	b.tokens = math.Max(0, b.tokens-1)
	b.mu.Unlock()
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

// active reports whether any source has failed recently.
func (l *failureLimiter) active() bool { return l.n.Load() != 0 }

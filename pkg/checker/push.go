package checker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Retry backoff of pushes answered 5xx or 429 or not answered at all.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// maxRetryAfter caps a 429's Retry-After, so a run still ends on time.
	maxRetryAfter = 10 * time.Second
)

// pushRecord is one push: the samples of every series at ts.
type pushRecord struct {
	ts      int64
	acked   bool
	ackedAt time.Time
}

// ledger records every push, in timestamp order. The writer appends and
// acknowledges; checks read snapshots.
type ledger struct {
	mu     sync.Mutex
	pushes []pushRecord
}

func (l *ledger) begin(ts int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pushes = append(l.pushes, pushRecord{ts: ts})
}

// ack marks the newest push (the one in flight) acknowledged.
func (l *ledger) ack(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := &l.pushes[len(l.pushes)-1]
	p.acked, p.ackedAt = true, at
}

func (l *ledger) snapshot() []pushRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pushRecord(nil), l.pushes...)
}

// writeLoop pushes one tick every interval until ctx ends.
func (c *Checker) writeLoop(ctx context.Context) {
	next := time.Now()
	var last int64
	for {
		// Strictly increasing timestamps, even on a coarse clock.
		ts := max(time.Now().UnixMilli(), last+1)
		last = ts
		c.pushTick(ctx, ts)
		next = next.Add(c.cfg.Interval)
		if now := time.Now(); next.Before(now) {
			next = now // Ticks missed while retrying are skipped.
		}
		if !sleep(ctx, time.Until(next)) {
			return
		}
	}
}

// pushTick sends the samples at ts until they are acknowledged, refused
// (a 4xx other than 429) or ctx ends.
func (c *Checker) pushTick(ctx context.Context, ts int64) {
	body, err := c.enc.encode(ts)
	if err != nil {
		c.logger.Error("Encoding a push failed", "err", err)
		return
	}
	c.ledger.begin(ts)
	c.counts.pushes.Add(1)
	start := time.Now()
	backoff := minBackoff
	attempts, lastCode := 0, 0 // failed attempts so far, and the last one's status (0: no answer)
	for {
		res := c.attempt(body)
		switch {
		case res.err == nil && res.code/100 == 2:
			c.ledger.ack(time.Now())
			c.counts.pushesAcknowledged.Add(1)
			if attempts > 0 {
				c.logger.Info("Push acknowledged after retries", "ts", ts, "status", res.code, "waited", time.Since(start))
			}
			return
		case res.err == nil && res.code != http.StatusTooManyRequests && res.code/100 != 5:
			c.counts.pushesFailed.Add(1)
			c.logger.Warn("Push refused, not retried", "ts", ts, "status", res.code, "body", res.body)
			return
		case res.err != nil:
			c.counts.transportErrors.Add(1)
		case res.code == http.StatusTooManyRequests:
			c.counts.responses429.Add(1)
		default:
			c.counts.responses5xx.Add(1)
		}
		if attempts == 0 {
			c.counts.pushesRetried.Add(1)
		}
		// One line per change of outcome, not per attempt.
		if attempts == 0 || res.code != lastCode {
			if res.err != nil {
				c.logger.Info("Push not answered, retrying", "ts", ts, "attempt", attempts+1, "err", res.err)
			} else {
				c.logger.Info("Push not acknowledged, retrying", "ts", ts, "attempt", attempts+1, "status", res.code, "body", res.body)
			}
		}
		lastCode = res.code
		attempts++
		wait := backoff
		if res.retryAfter > wait {
			wait = min(res.retryAfter, maxRetryAfter)
		}
		if !sleep(ctx, wait) {
			c.counts.pushesUnacknowledged.Add(1)
			c.logger.Info("Run ended while a push was retried", "ts", ts, "waited", time.Since(start))
			return
		}
		c.counts.retries.Add(1)
		backoff = min(2*backoff, maxBackoff)
	}
}

// attemptResult is the outcome of one push request.
type attemptResult struct {
	code       int
	body       string // the start of a non-2xx answer's body
	retryAfter time.Duration
	err        error // no answer
}

// attempt sends body once. The request has its own timeout, independent
// of the run, so the end of a run waits for the answer instead of leaving
// the push's fate unknown.
func (c *Checker) attempt(body []byte) attemptResult {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return attemptResult{err: fmt.Errorf("building push request: %w", err)}
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", userAgent)
	c.auth(req.Header)
	resp, err := c.client.Do(req)
	if err != nil {
		return attemptResult{err: fmt.Errorf("pushing: %w", err)}
	}
	defer resp.Body.Close()
	res := attemptResult{code: resp.StatusCode}
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		res.body = strings.TrimSpace(string(msg))
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			res.retryAfter = time.Duration(s) * time.Second
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return res
}

const userAgent = "hearth-check"

// auth sets the tenant's credentials on h.
func (c *Checker) auth(h http.Header) {
	if c.cfg.APIKey != "" {
		r := http.Request{Header: h}
		r.SetBasicAuth(c.cfg.Tenant, c.cfg.APIKey)
		return
	}
	h.Set("X-Scope-OrgID", c.cfg.Tenant)
}

// authTransport adds the tenant's credentials to every query.
type authTransport struct {
	c    *Checker
	next http.RoundTripper
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.c.auth(r.Header)
	r.Header.Set("User-Agent", userAgent)
	return t.next.RoundTrip(r)
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// request is one encoded remote-write request, ready to send.
type request struct {
	tenant  string
	body    []byte
	samples int
	round   int
	index   int // the batch's position in a round (for spreading sends over the interval)
	tick    int64
}

// Retry backoff of 5xx and 429 answers.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// authHeaders sets the tenant and credential headers of cfg on h.
func authHeaders(h http.Header, cfg *Config, tenant string) {
	h.Set("X-Scope-OrgID", tenant)
	switch {
	case cfg.APIKey != "":
		req := http.Request{Header: h}
		req.SetBasicAuth(tenant, cfg.APIKey)
	case cfg.BearerToken != "":
		h.Set("Authorization", "Bearer "+cfg.BearerToken)
	}
	for _, kv := range cfg.Headers {
		h.Set(kv[0], kv[1])
	}
}

// pusher sends encoded requests, retrying 5xx and 429 answers.
type pusher struct {
	cfg    *Config
	client *http.Client
	st     *stats
	logger *slog.Logger
	logged sync.Map // HTTP statuses whose first body was logged
}

// push sends r until it is accepted, dropped (4xx) or out of retries. The
// request itself runs on its own timeout so that the end of the run lets
// it finish; ctx only cuts the backoff between retries.
func (p *pusher) push(ctx context.Context, r *request) {
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		code, err := p.attempt(r)
		switch {
		case err == nil && code/100 == 2:
			p.st.samplesAccepted.Add(uint64(r.samples))
			p.st.requests.Add(1)
			storeMax(&p.st.lastTick, r.tick)
			return
		case err == nil && code != http.StatusTooManyRequests && code/100 != 5:
			p.st.samplesDropped.Add(uint64(r.samples))
			p.st.requests.Add(1)
			return
		}
		if attempt >= p.cfg.MaxRetries || ctx.Err() != nil {
			p.st.samplesDropped.Add(uint64(r.samples))
			p.st.requests.Add(1)
			return
		}
		p.st.retries.Add(1)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt sends r once and returns the HTTP status.
func (p *pusher) attempt(r *request) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.URL, bytes.NewReader(r.body))
	if err != nil {
		return 0, fmt.Errorf("building push request: %w", err)
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("User-Agent", "hearth-loadgen")
	if p.cfg.Protocol == ProtocolRW2 {
		req.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	} else {
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	authHeaders(req.Header, p.cfg, r.tenant)
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		p.st.pushLatency.record(time.Since(start))
		p.st.status.inc("error")
		return 0, fmt.Errorf("pushing: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		if _, seen := p.logged.LoadOrStore(resp.StatusCode, true); !seen {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			p.logger.Warn("Push rejected (logged once per status)", "status", resp.StatusCode, "tenant", r.tenant, "body", strings.TrimSpace(string(msg)))
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	p.st.pushLatency.record(time.Since(start))
	p.st.status.inc(strconv.Itoa(resp.StatusCode))
	return resp.StatusCode, nil
}

func newHTTPClient(connections int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = connections * 2
	t.MaxIdleConnsPerHost = connections * 2
	t.DisableCompression = true
	return &http.Client{Transport: t}
}

// storeMax raises a to v unless it is already higher.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

//go:build integration && fault

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/checker"
)

// faultTenant is the tenant every fault test writes as.
const faultTenant = "fault"

// faultRun is a checker writing to and reading from processes while a
// test injects faults.
type faultRun struct {
	t     *testing.T
	c     *checker.Checker
	begin time.Time // the test's start, for its wall time
}

// beginFault builds the binaries (once per run) and returns the time the
// test starts, so that its wall time leaves the build out.
func beginFault(t *testing.T) time.Time {
	t.Helper()
	binary(t, "hearth")
	return time.Now()
}

// logWriter sends a checker's log lines to t.Log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// startChecker starts a checker pushing to pushAddr's remote-write endpoint
// and reading back from queryAddr's Prometheus API: 50 series every 100ms,
// a read-back of the last minute every second. begin is when the test
// started.
func startChecker(t *testing.T, begin time.Time, pushAddr, queryAddr string) *faultRun {
	t.Helper()
	cfg := checker.Config{
		URL:           "http://" + pushAddr + "/api/v1/push",
		QueryURL:      "http://" + queryAddr + "/prometheus",
		Tenant:        faultTenant,
		Series:        50,
		Interval:      100 * time.Millisecond,
		Timeout:       10 * time.Second,
		CheckInterval: time.Second,
		CheckSpan:     time.Minute,
		Settle:        time.Second,
		FinalTimeout:  time.Minute,
	}
	c, err := checker.New(cfg, slog.New(slog.NewTextHandler(logWriter{t}, nil)))
	require.NoError(t, err)
	r := &faultRun{t: t, c: c, begin: begin}
	c.Start(context.Background())
	t.Cleanup(c.Stop)
	return r
}

// waitAcknowledged waits until n more pushes are acknowledged.
func (r *faultRun) waitAcknowledged(n uint64) {
	r.t.Helper()
	want := r.c.Progress().PushesAcknowledged + n
	require.Eventuallyf(r.t, func() bool { return r.c.Progress().PushesAcknowledged >= want }, 2*time.Minute, 20*time.Millisecond,
		"%d more pushes were never acknowledged: %+v", n, r.c.Progress())
}

// verify stops the writing (once) and reads the whole run back.
func (r *faultRun) verify() *checker.Summary {
	r.t.Helper()
	r.c.Stop()
	s, err := r.c.Verify(context.Background())
	require.NoError(r.t, err)
	var text bytes.Buffer
	require.NoError(r.t, s.WriteText(&text))
	r.t.Logf("checker summary:\n%s", text.String())
	return s
}

// report logs the figures of a fault test on one line and, when
// HEARTH_FAULT_REPORT names a file, appends them to it as a JSON line.
func (r *faultRun) report(s *checker.Summary) {
	r.t.Helper()
	wall := time.Since(r.begin)
	r.t.Logf("FAULT SUMMARY %s: samples acknowledged=%d read back=%d lost=%d; pushes retried (5xx/429/no answer)=%d (responses 5xx=%d 429=%d, no answer=%d); mismatches=%d, read back unacknowledged=%d, query failures=%d, checks during the run=%d (incomplete %d); wall %s",
		r.t.Name(), s.SamplesAcknowledged, s.SamplesReadBack, s.SamplesLost, s.PushesRetried, s.Responses5xx, s.Responses429, s.TransportErrors,
		s.ValueMismatches, s.ReadBackUnacknowledged, s.QueryFailures, s.PeriodicChecks, s.PeriodicIncomplete, wall.Round(time.Second))
	path := os.Getenv("HEARTH_FAULT_REPORT")
	if path == "" {
		return
	}
	line, err := json.Marshal(struct {
		Test        string  `json:"test"`
		WallSeconds float64 `json:"wall_seconds"`
		*checker.Summary
	}{r.t.Name(), wall.Seconds(), s})
	require.NoError(r.t, err)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(r.t, err)
	_, err = f.Write(append(line, '\n'))
	require.NoError(r.t, errors.Join(err, f.Close()))
}

// requireNothingLost fails unless every acknowledged sample was read back
// unchanged.
func requireNothingLost(t *testing.T, s *checker.Summary) {
	t.Helper()
	require.Positive(t, s.SamplesAcknowledged, "nothing was acknowledged")
	require.Zerof(t, s.SamplesLost, "acknowledged samples lost, e.g. %v", s.LostExamples)
	require.Zero(t, s.ValueMismatches, "values read back differ from those pushed")
	require.Zero(t, s.Phantoms, "samples read back were never pushed")
}

// operatorPostWithin sends an authenticated POST to p's operator listener
// and gives up after timeout (the error says so).
func (p *process) operatorPostWithin(t *testing.T, path string, timeout time.Duration) (int, error) {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(p.dataDir, "operator-token"))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+p.internal+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// logLines returns the lines of p's output (since its last start) that
// contain s.
func (p *process) logLines(s string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.logs == nil {
		return nil
	}
	var out []string
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// metrics returns a few of p's metrics, for logs.
func (p *process) metrics(t *testing.T, names ...string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%g ", n, p.metric(t, n))
	}
	return strings.TrimSpace(b.String())
}

// tcpProxy forwards loopback TCP connections to a target; cut closes every
// connection and refuses new ones until restore.
type tcpProxy struct {
	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	p := &tcpProxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), target: target, conns: map[net.Conn]struct{}{}}
	p.restore(t)
	t.Cleanup(func() {
		p.cut()
		p.wg.Wait()
	})
	return p
}

// restore listens again on the proxy's address.
func (p *tcpProxy) restore(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
}

// cut stops listening (new connections are refused) and closes every
// open connection.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) serve(down net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = down.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // Cut meanwhile.
		p.mu.Unlock()
		_ = down.Close()
		_ = up.Close()
		return
	}
	p.conns[down], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	p.wg.Go(func() { pipe(up, down) })
	pipe(down, up)
	p.mu.Lock()
	delete(p.conns, down)
	delete(p.conns, up)
	p.mu.Unlock()
}

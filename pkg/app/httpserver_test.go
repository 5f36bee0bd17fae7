package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// testHTTPConfig has timeouts short enough for tests.
func testHTTPConfig() HTTPServerConfig {
	return HTTPServerConfig{
		ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		IdleTimeout: time.Second, MaxHeaderBytes: 8 << 10, MaxConnections: 3, InternalMaxConnections: 2,
	}
}

// startServers binds and serves the process's listeners on 127.0.0.1 with
// cfg, after mount has added routes.
func startServers(t *testing.T, cfg HTTPServerConfig, mount func(s *servers)) (*servers, *prometheus.Registry) {
	t.Helper()
	sc := ServerConfig{HTTPListenAddress: "127.0.0.1:0", InternalListenAddress: "127.0.0.1:0", GRPCListenAddress: "127.0.0.1:0", GracefulTimeout: 5 * time.Second, HTTP: cfg}
	reg := prometheus.NewPedanticRegistry()
	s, err := newServers(slog.New(slog.DiscardHandler), reg, sc, 1<<20, nil)
	require.NoError(t, err)
	mount(s)
	s.guardHTTP(cfg, reg)
	svc := s.service()
	require.NoError(t, svc.StartAsync(context.Background()))
	require.NoError(t, svc.AwaitRunning(context.Background()))
	t.Cleanup(func() {
		svc.StopAsync()
		require.NoError(t, svc.AwaitTerminated(context.Background()))
	})
	return s, reg
}

// dial opens a raw connection that fails the test if it hangs: old code
// held such connections forever.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(15*time.Second)))
	return c
}

// readUntilClosed reads c until the server closes it, and returns what it
// read and when the close came.
func readUntilClosed(t *testing.T, c net.Conn) (string, time.Time) {
	t.Helper()
	b, err := io.ReadAll(c)
	require.NoError(t, err, "the server never closed the connection (read %q)", b)
	return string(b), time.Now()
}

// TestSlowBodyIsCut: a body sent one byte every 2s is cut within
// -server.http-read-timeout, and the handler sees a read error, not a
// request that never ends.
func TestSlowBodyIsCut(t *testing.T) {
	cfg := testHTTPConfig()
	readErr := make(chan error, 1)
	s, _ := startServers(t, cfg, func(s *servers) {
		s.mux.HandleFunc("POST /api/v1/push", func(w http.ResponseWriter, r *http.Request) {
			_, err := io.ReadAll(r.Body)
			readErr <- err
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		})
	})
	c := dial(t, s.HTTPAddr())
	_, err := io.WriteString(c, "POST /api/v1/push HTTP/1.1\r\nHost: hearth\r\nContent-Length: 100\r\n\r\n")
	require.NoError(t, err)
	start := time.Now()
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
		}
	}()
	_, closed := readUntilClosed(t, c)
	require.Error(t, <-readErr)
	require.Less(t, closed.Sub(start), cfg.ReadTimeout+time.Second, "cut within the read timeout")
	t.Logf("slow body cut after %s (-server.http-read-timeout=%s)", closed.Sub(start).Round(time.Millisecond), cfg.ReadTimeout)
}

// TestIdleKeepAliveIsClosed: a keep-alive connection left idle is closed
// after -server.http-idle-timeout.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	cfg := testHTTPConfig()
	s, _ := startServers(t, cfg, func(s *servers) {
		s.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	})
	for _, addr := range []string{s.HTTPAddr(), s.InternalAddr()} {
		c := dial(t, addr)
		_, err := io.WriteString(c, "GET /ready HTTP/1.1\r\nHost: hearth\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		idleSince := time.Now()
		rest, err := io.ReadAll(br)
		require.NoError(t, err, "the idle connection was never closed")
		require.Empty(t, rest)
		idle := time.Since(idleSince)
		require.Less(t, idle, cfg.IdleTimeout+time.Second)
		require.GreaterOrEqual(t, idle, cfg.IdleTimeout-100*time.Millisecond)
	}
}

// TestConnectionLimit: past -server.http-max-connections a new
// connection gets 503 and is closed; the metrics show the open and the
// refused ones; a freed slot is usable again; the operator listener has a
// limit of its own.
func TestConnectionLimit(t *testing.T) {
	cfg := testHTTPConfig()
	s, reg := startServers(t, cfg, func(s *servers) {
		s.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	})
	var conns []net.Conn
	for range cfg.MaxConnections {
		conns = append(conns, dial(t, s.HTTPAddr()))
	}
	gauge := func(listener string) string {
		return fmt.Sprintf(`
# HELP hearth_http_connections HTTP connections open, by listener (http: tenants, internal: operators).
# TYPE hearth_http_connections gauge
hearth_http_connections{listener="http"} %s
hearth_http_connections{listener="internal"} %s
`, listener, "0")
	}
	require.Eventually(t, func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(gauge("3")), "hearth_http_connections") == nil
	}, 10*time.Second, 5*time.Millisecond)

	over := dial(t, s.HTTPAddr())
	got, _ := readUntilClosed(t, over)
	require.True(t, strings.HasPrefix(got, "HTTP/1.1 503 "), "%q", got)
	require.Contains(t, got, "too many connections")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hearth_http_connections_refused_total HTTP connections closed on accept because the listener had -server.http-max-connections (or -server.internal-max-connections) open.
# TYPE hearth_http_connections_refused_total counter
hearth_http_connections_refused_total{listener="http"} 1
hearth_http_connections_refused_total{listener="internal"} 0
`), "hearth_http_connections_refused_total"))

	// A freed slot is taken again.
	conns[0].Close()
	require.Eventually(t, func() bool {
		return testutil.GatherAndCompare(reg, strings.NewReader(gauge("2")), "hearth_http_connections") == nil
	}, 10*time.Second, 5*time.Millisecond)
	resp, err := http.Get("http://" + s.HTTPAddr() + "/ready")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// The public listener full does not shut operators out.
	resp, err = http.Get("http://" + s.InternalAddr() + "/nothing")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestLongRequestsAreNotCut: a handler that runs past the read and write
// timeouts after reading its body, and a stream without a write deadline,
// finish with their context intact; a route's write deadline cuts only
// past its own value.
func TestLongRequestsAreNotCut(t *testing.T) {
	cfg := testHTTPConfig()
	long := 3 * cfg.ReadTimeout
	s, _ := startServers(t, cfg, func(s *servers) {
		// Like a query: a small body, then a long evaluation.
		s.mux.Handle("POST /query", withWriteDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(long):
				fmt.Fprintf(w, "evaluated %s", body)
			case <-r.Context().Done():
				http.Error(w, "cancelled: "+context.Cause(r.Context()).Error(), http.StatusServiceUnavailable)
			}
		}), long+cfg.WriteTimeout))
		// Like a pprof profile: writes for longer than any timeout.
		s.mux.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
			tick := time.NewTicker(cfg.WriteTimeout / 2)
			defer tick.Stop()
			for i := range 6 {
				select {
				case <-tick.C:
				case <-r.Context().Done():
					return
				}
				fmt.Fprintf(w, "chunk %d\n", i)
				_ = http.NewResponseController(w).Flush()
			}
		})
	})
	client := &http.Client{Timeout: 15 * time.Second}
	start := time.Now()
	resp, err := client.Post("http://"+s.HTTPAddr()+"/query", "text/plain", strings.NewReader("up"))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, "evaluated up", string(body))
	require.GreaterOrEqual(t, time.Since(start), long)

	// The same connection serves the next request (the deadlines were
	// lifted), here a stream longer than the write timeout.
	resp, err = client.Get("http://" + s.HTTPAddr() + "/stream")
	require.NoError(t, err)
	body, err = io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 6, strings.Count(string(body), "chunk"), "%s", body)
}

// TestAllInOneCutsASlowPush: the flags reach a running all-in-one: a
// remote-write body sent one byte every 2s to the real push handler is cut
// within -server.http-read-timeout, and the operator listener's /metrics
// counts the public listener's connections.
func TestAllInOneCutsASlowPush(t *testing.T) {
	p := startProcess(t, TargetAll, "-server.http-read-timeout=1s")
	c := dial(t, p.app.HTTPAddr())
	_, err := io.WriteString(c, "POST /api/v1/push HTTP/1.1\r\nHost: hearth\r\nX-Scope-OrgID: team-a\r\n"+
		"Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: 1000\r\n\r\n")
	require.NoError(t, err)
	start := time.Now()
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for range tick.C {
			if _, err := c.Write([]byte{0}); err != nil {
				return
			}
		}
	}()
	got, closed := readUntilClosed(t, c)
	require.Less(t, closed.Sub(start), 2*time.Second, "%q", got)
	t.Logf("the all-in-one cut a slow push after %s: %q", closed.Sub(start).Round(time.Millisecond), strings.SplitN(got, "\r\n", 2)[0])

	dial(t, p.app.HTTPAddr()) // one connection held open
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.app.InternalAddr() + "/metrics")
		require.NoError(t, err)
		metrics, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		resp.Body.Close()
		return strings.Contains(string(metrics), `hearth_http_connections{listener="http"} 1`+"\n") &&
			strings.Contains(string(metrics), `hearth_http_connections_refused_total{listener="http"} 0`)
	}, 10*time.Second, 10*time.Millisecond)
}

// TestOversizeHeadersAreRefused: a header block past
// -server.http-max-header-bytes gets 431 and holds nothing.
func TestOversizeHeadersAreRefused(t *testing.T) {
	cfg := testHTTPConfig()
	s, _ := startServers(t, cfg, func(s *servers) {
		s.mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ready\n") })
	})
	for name, tc := range map[string]struct {
		size int
		want int
	}{
		"within the limit": {size: cfg.MaxHeaderBytes / 2, want: http.StatusOK},
		"past the limit":   {size: 2 * cfg.MaxHeaderBytes, want: http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr()+"/ready", nil)
			require.NoError(t, err)
			req.Header.Set("X-Padding", strings.Repeat("p", tc.size))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
		})
	}
}

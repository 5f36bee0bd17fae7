package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// HTTPServerConfig bounds what a client can hold on the HTTP listeners:
// time to send headers and bodies, idle keep-alive connections, header
// size and open connections. Its keys sit in the `server:` section.
type HTTPServerConfig struct {
	ReadHeaderTimeout      time.Duration `yaml:"http_read_header_timeout"`
	ReadTimeout            time.Duration `yaml:"http_read_timeout"`
	WriteTimeout           time.Duration `yaml:"http_write_timeout"`
	IdleTimeout            time.Duration `yaml:"http_idle_timeout"`
	MaxHeaderBytes         int           `yaml:"http_max_header_bytes"`
	MaxConnections         int           `yaml:"http_max_connections"`
	InternalMaxConnections int           `yaml:"internal_max_connections"`
}

// RegisterFlags registers the -server.http-* limits.
func (c *HTTPServerConfig) RegisterFlags(f *flag.FlagSet) {
	// 10s: a client on a bad link sends a few hundred bytes of headers in
	// well under a second.
	f.DurationVar(&c.ReadHeaderTimeout, "server.http-read-header-timeout", 10*time.Second, "How long a client may take to send a request's headers on either HTTP listener.")
	// 30s (Cortex's -server.http-read-timeout): a push body of a few MiB
	// needs well under a second on any working link; one byte every few
	// seconds is an attack.
	f.DurationVar(&c.ReadTimeout, "server.http-read-timeout", 30*time.Second, "How long a client may take to send a request's body, from the end of its headers; the connection is cut past it. The deadline is lifted once the body is read, so long queries and streams are not cut. See also -server.http-read-header-timeout.")
	f.DurationVar(&c.WriteTimeout, "server.http-write-timeout", 30*time.Second, "How long a push may take to be answered, and how long past -querier.timeout a query may take to be answered and read by the client; the connection is cut past it. Operator endpoints (pprof profiles, the admin API) have no write deadline.")
	// 2m (Cortex's default): longer than the 15s-1m send interval of a
	// remote-write client, so a steady sender keeps its connection.
	f.DurationVar(&c.IdleTimeout, "server.http-idle-timeout", 2*time.Minute, "How long an idle keep-alive connection stays open on either HTTP listener.")
	// 64 KiB: Basic or Bearer credentials and a few cookies take a few KiB.
	f.IntVar(&c.MaxHeaderBytes, "server.http-max-header-bytes", 64<<10, "Largest request header block, in bytes, on either HTTP listener; larger ones get 431.")
	// 5000: far below the file descriptors a process gets (Go raises the
	// soft limit to the hard one, commonly 1M), so tenants cannot starve
	// the WAL, the store or the operator listener of descriptors.
	f.IntVar(&c.MaxConnections, "server.http-max-connections", 5000, "Most connections open at once on -server.http-listen-address; past it new connections get 503 and are closed (hearth_http_connections_refused_total). 0 means no limit.")
	f.IntVar(&c.InternalMaxConnections, "server.internal-max-connections", 500, "Most connections open at once on -server.internal-listen-address (see -server.http-max-connections). 0 means no limit.")
}

// Validate reports every invalid setting.
func (c *HTTPServerConfig) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"server.http_read_header_timeout": c.ReadHeaderTimeout, "server.http_read_timeout": c.ReadTimeout,
		"server.http_write_timeout": c.WriteTimeout, "server.http_idle_timeout": c.IdleTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", name, d))
		}
	}
	if c.MaxHeaderBytes < 4<<10 {
		errs = append(errs, fmt.Errorf("server.http_max_header_bytes %d: must be at least 4096", c.MaxHeaderBytes))
	}
	if c.MaxConnections < 0 || c.InternalMaxConnections < 0 {
		errs = append(errs, fmt.Errorf("server.http_max_connections %d, server.internal_max_connections %d: must not be negative", c.MaxConnections, c.InternalMaxConnections))
	}
	return errors.Join(errs...)
}

// guardHTTP applies cfg to both HTTP servers: header, body and idle
// timeouts, the header size limit and a connection limit per listener.
// Call it once the handlers are in place, before the servers start.
//
// There is no server-wide ReadTimeout or WriteTimeout: a read deadline that
// passes while a handler runs cancels the request's context, and a write
// deadline cuts a response however long its query was allowed to run.
// Instead every request with a body gets a read deadline lifted once the
// body is read, and routes set their own write deadline (withWriteDeadline).
func (s *servers) guardHTTP(cfg HTTPServerConfig, reg prometheus.Registerer) {
	f := promauto.With(reg)
	open := f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hearth_http_connections",
		Help: "HTTP connections open, by listener (http: tenants, internal: operators).",
	}, []string{"listener"})
	refused := f.NewCounterVec(prometheus.CounterOpts{
		Name: "hearth_http_connections_refused_total",
		Help: "HTTP connections closed on accept because the listener had -server.http-max-connections (or -server.internal-max-connections) open.",
	}, []string{"listener"})
	for _, l := range []struct {
		name string
		srv  *http.Server
		lis  *net.Listener
		max  int
	}{{"http", s.httpSrv, &s.httpLis, cfg.MaxConnections}, {"internal", s.internalSrv, &s.internalLis, cfg.InternalMaxConnections}} {
		l.srv.ReadHeaderTimeout = cfg.ReadHeaderTimeout
		l.srv.IdleTimeout = cfg.IdleTimeout
		l.srv.MaxHeaderBytes = cfg.MaxHeaderBytes
		l.srv.Handler = withBodyDeadline(l.srv.Handler, cfg.ReadTimeout)
		*l.lis = newLimitListener(*l.lis, l.max, open.WithLabelValues(l.name), refused.WithLabelValues(l.name))
	}
}

// withBodyDeadline gives a request's body timeout to arrive, and lifts any
// write deadline an earlier request on the connection set. The read
// deadline is lifted when the handler reads the body to its end: after
// that, the server's own read of the connection (which notices a client
// that goes away) must not time out, or it would cancel the request.
func withBodyDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		if r.Body != nil && r.Body != http.NoBody {
			if err := rc.SetReadDeadline(time.Now().Add(timeout)); err == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody lifts the connection's read deadline at the body's end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// withWriteDeadline cuts the connection if the response is not written
// within timeout of the request's start: a client that stops reading holds
// no handler and no connection past it.
func withWriteDeadline(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(timeout))
		next.ServeHTTP(w, r)
	})
}

// limitListener accepts at most max connections at once; past it, it
// answers 503 and closes new ones at once rather than leaving them in the
// kernel's backlog (as golang.org/x/net/netutil.LimitListener does), so a
// flood is visible and costs one descriptor for a moment.
type limitListener struct {
	net.Listener
	slots   chan struct{}
	open    prometheus.Gauge
	refused prometheus.Counter
}

// refusedResponse is written to a connection over the limit.
const refusedResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: 52\r\n\r\ntoo many connections to this listener, retry later\r\n"

func newLimitListener(l net.Listener, max int, open prometheus.Gauge, refused prometheus.Counter) net.Listener {
	ll := &limitListener{Listener: l, open: open, refused: refused}
	if max > 0 {
		ll.slots = make(chan struct{}, max)
	}
	return ll
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			default:
				l.refused.Inc()
				// A fresh socket's send buffer is empty: the write does not
				// block, the deadline is there for certainty.
				_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				_, _ = io.WriteString(c, refusedResponse)
				_ = c.Close()
				continue
			}
		}
		l.open.Inc()
		return &limitConn{Conn: c, l: l}, nil
	}
}

// limitConn gives its slot back once, on its first Close.
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.open.Dec()
		if c.l.slots != nil {
			<-c.l.slots
		}
	})
	return c.Conn.Close()
}

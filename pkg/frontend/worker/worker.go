package worker

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/frontendpb"
	"github.com/hearthmetrics/hearth/proto/gogocodec"
)

// DNSRefreshInterval is how often -querier.frontend-address is resolved
// again, so frontends that come and go are found.
const DNSRefreshInterval = 10 * time.Second

// Config is the querier's frontend-worker settings, in the `querier:`
// section.
type Config struct {
	// FrontendAddress is host:port of the query frontends; a DNS name
	// resolving to several addresses reaches every one.
	FrontendAddress string `yaml:"frontend_address"`
	// Parallelism is the number of streams per frontend address.
	Parallelism int `yaml:"frontend_worker_parallelism"`
}

// RegisterFlags registers -querier.frontend-address and
// -querier.frontend-worker-parallelism.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.FrontendAddress, "querier.frontend-address", "", "host:port of the query frontends to pull queries from over gRPC; a DNS name is resolved, and re-resolved every 10s, to reach every frontend behind it. Empty: the querier only serves its HTTP API.")
	// 10: Cortex's default.
	f.IntVar(&c.Parallelism, "querier.frontend-worker-parallelism", 10, "Queries one querier runs at once for each query frontend (one gRPC stream each); in the all-in-one, the in-process workers between its frontend and its querier. Keep it at or below -querier.max-concurrent.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.FrontendAddress != "" {
		if _, _, err := net.SplitHostPort(c.FrontendAddress); err != nil {
			errs = append(errs, fmt.Errorf("querier.frontend_address %q: want host:port: %w", c.FrontendAddress, err))
		}
	}
	if c.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("querier.frontend_worker_parallelism %d: must be at least 1", c.Parallelism))
	}
	return errors.Join(errs...)
}

// Deps are what a Worker needs.
type Deps struct {
	Config Config
	// QuerierID names this querier to the frontends (its advertised gRPC
	// address): they shuffle-shard tenants over queriers by it.
	QuerierID string
	// Handler is the querier's HTTP handler, without authentication: the
	// tenant comes from the stream.
	Handler http.Handler
	// DialOptions authenticate this querier to the frontends
	// (auth.Cluster.DialOptions).
	DialOptions []grpc.DialOption
	// MaxMessageSize bounds a request received and a response sent.
	MaxMessageSize int
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	// VerifyFrontend, optional, checks the frontend's proof over this
	// querier's ID and its challenge (auth.Cluster.VerifyProof for
	// frontend.ProofPurpose): a stream to a frontend that fails it is
	// closed before any query runs. Nil accepts every frontend.
	VerifyFrontend func(querierID string, challenge, proof []byte) bool
	// Resolve, optional, replaces DNS resolution (tests).
	Resolve func(ctx context.Context, host string) ([]string, error)
}

// Worker pulls queries from the query frontends.
type Worker struct {
	d       Deps
	host    string
	port    string
	streams prometheus.Gauge
	queries *prometheus.CounterVec

	mu    sync.Mutex
	addrs map[string]*frontendConn
}

// frontendConn is the connection and streams to one frontend address.
type frontendConn struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// New builds a worker.
func New(d Deps) (*Worker, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	host, port, err := net.SplitHostPort(d.Config.FrontendAddress)
	if err != nil {
		return nil, fmt.Errorf("parsing -querier.frontend-address: %w", err)
	}
	if d.Resolve == nil {
		d.Resolve = net.DefaultResolver.LookupHost
	}
	f := promauto.With(d.Registerer)
	return &Worker{
		d: d, host: host, port: port, addrs: map[string]*frontendConn{},
		streams: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_querier_frontend_worker_streams",
			Help: "gRPC streams open from this querier to query frontends.",
		}),
		queries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_querier_frontend_worker_requests_total",
			Help: "Requests executed for query frontends, by outcome: ok (answered), cancelled (the frontend cancelled it).",
		}, []string{"outcome"}),
	}, nil
}

// Service runs the worker: it resolves the frontends' address, keeps
// streams to each, and on stop closes them (a request being executed is
// answered first).
func (w *Worker) Service() *services.Service {
	return services.New("frontend-worker", nil, func(ctx context.Context) error {
		w.refresh(ctx)
		t := time.NewTicker(DNSRefreshInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				w.refresh(ctx)
			}
		}
	}, func(error) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		for addr, fc := range w.addrs {
			fc.close()
			delete(w.addrs, addr)
		}
		return nil
	})
}

// refresh resolves the address and starts or stops streams to match.
func (w *Worker) refresh(ctx context.Context) {
	var ips []string
	if net.ParseIP(w.host) != nil {
		ips = []string{w.host}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		ips, err = w.d.Resolve(rctx, w.host)
		cancel()
		if err != nil {
			w.d.Logger.Warn("Resolving the query frontends failed; keeping the known ones", "address", w.d.Config.FrontendAddress, "err", err, "flag", "-querier.frontend-address")
			return
		}
	}
	want := make([]string, 0, len(ips))
	for _, ip := range ips {
		want = append(want, net.JoinHostPort(ip, w.port))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for addr, fc := range w.addrs {
		if !slices.Contains(want, addr) {
			w.d.Logger.Info("Query frontend gone from DNS; closing its streams", "addr", addr)
			fc.close()
			delete(w.addrs, addr)
		}
	}
	for _, addr := range want {
		if _, ok := w.addrs[addr]; ok || ctx.Err() != nil {
			continue
		}
		fc, err := w.start(ctx, addr)
		if err != nil {
			w.d.Logger.Warn("Connecting to a query frontend failed", "addr", addr, "err", err)
			continue
		}
		w.addrs[addr] = fc
	}
}

func (w *Worker) start(ctx context.Context, addr string) (*frontendConn, error) {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.ForceCodec(gogocodec.Codec{}),
			grpc.MaxCallRecvMsgSize(w.d.MaxMessageSize),
			grpc.MaxCallSendMsgSize(w.d.MaxMessageSize),
		),
	}, w.d.DialOptions...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("dialling %s: %w", addr, err)
	}
	// The streams outlive the refresh that started them: they end when
	// the address leaves DNS or the worker stops.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	fc := &frontendConn{conn: conn, cancel: cancel}
	client := frontendpb.NewFrontendServiceClient(conn)
	for range w.d.Config.Parallelism {
		fc.done.Add(1)
		go func() {
			defer fc.done.Done()
			w.loop(sctx, client, addr)
		}()
	}
	return fc, nil
}

func (fc *frontendConn) close() {
	fc.cancel()
	fc.done.Wait()
	_ = fc.conn.Close()
}

// loop keeps one stream open, reopening it with backoff, until ctx ends.
func (w *Worker) loop(ctx context.Context, client frontendpb.FrontendServiceClient, addr string) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		served, err := w.stream(ctx, client, addr)
		if ctx.Err() != nil {
			return
		}
		if served {
			backoff = 100 * time.Millisecond
		}
		w.d.Logger.Debug("Query frontend stream ended; reconnecting", "addr", addr, "err", err, "backoff", backoff)
		// Jitter spreads the reconnections of many workers.
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// stream runs one Process stream until it fails or ctx ends, and reports
// whether it served anything. ctx ending lets the request being executed
// finish and be answered; only then is the stream closed.
func (w *Worker) stream(ctx context.Context, client frontendpb.FrontendServiceClient, addr string) (bool, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	s, err := client.Process(sctx)
	if err != nil {
		return false, fmt.Errorf("opening the stream: %w", err)
	}
	challenge := make([]byte, 16)
	_, _ = crand.Read(challenge) // never fails (crypto/rand)
	if err := s.Send(&frontendpb.QuerierMessage{QuerierId: w.d.QuerierID, Challenge: challenge}); err != nil {
		return false, fmt.Errorf("sending the hello: %w", err)
	}
	first, err := s.Recv()
	if err != nil {
		return false, fmt.Errorf("receiving the frontend's proof: %w", err)
	}
	if w.d.VerifyFrontend != nil && !w.d.VerifyFrontend(w.d.QuerierID, challenge, first.Proof) {
		w.d.Logger.Error("A query frontend failed the cluster proof; no query runs for it", "addr", addr, "flag", "-querier.frontend-address")
		return false, errors.New("the query frontend failed the cluster proof")
	}
	w.streams.Inc()
	defer w.streams.Dec()
	msgs := make(chan *frontendpb.FrontendMessage)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := s.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case msgs <- m:
			case <-sctx.Done():
				return
			}
		}
	}()
	served := false
	for {
		var m *frontendpb.FrontendMessage
		select {
		case <-ctx.Done():
			// Idle: half-close, so the frontend ends the stream once the
			// responses sent are read (cancelling at once could drop the
			// last one), and wait for that end.
			w.closeGracefully(s, msgs, recvErr)
			return served, nil
		case err := <-recvErr:
			return served, err
		case m = <-msgs:
		}
		if m.Cancel || m.Request == nil {
			continue // A cancellation of a request already answered.
		}
		resp, err := w.execute(sctx, m, msgs, recvErr)
		if err != nil {
			return served, err
		}
		served = true
		if err := s.Send(&frontendpb.QuerierMessage{Id: m.Id, Response: resp}); err != nil {
			return served, fmt.Errorf("sending a response: %w", err)
		}
	}
}

// closeGracefully half-closes s and waits, up to 5s, for the frontend to
// end it. A request the frontend sent meanwhile is not run: the frontend
// sees the stream end and gives it to another querier.
func (w *Worker) closeGracefully(s frontendpb.FrontendService_ProcessClient, msgs <-chan *frontendpb.FrontendMessage, recvErr <-chan error) {
	if err := s.CloseSend(); err != nil {
		return
	}
	timeout := time.NewTimer(5 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-msgs:
		case <-recvErr:
			return
		case <-timeout.C:
			return
		}
	}
}

// execute runs one request on the handler, cancelling it when the
// frontend says so.
func (w *Worker) execute(ctx context.Context, m *frontendpb.FrontendMessage, msgs <-chan *frontendpb.FrontendMessage, recvErr chan error) (*frontendpb.HTTPResponse, error) {
	id, err := tenant.ParseFederated(m.Tenant)
	if err != nil {
		return errorResponse(http.StatusBadRequest, "bad_data", "tenant: "+err.Error()), nil
	}
	hctx, cancel := context.WithCancel(tenant.WithID(ctx, id))
	defer cancel()
	req, err := http.NewRequestWithContext(hctx, m.Request.Method, m.Request.Url, bytes.NewReader(m.Request.Body))
	if err != nil {
		return errorResponse(http.StatusBadRequest, "bad_data", "request: "+err.Error()), nil
	}
	req.RequestURI = m.Request.Url
	for _, h := range m.Request.Headers {
		for _, v := range h.Values {
			req.Header.Add(h.Key, v)
		}
	}
	done := make(chan *frontendpb.HTTPResponse, 1)
	go func() {
		rec := &recorder{header: http.Header{}}
		w.d.Handler.ServeHTTP(rec, req)
		done <- rec.response(w.d.MaxMessageSize)
	}()
	outcome := "ok"
	for {
		select {
		case resp := <-done:
			w.queries.WithLabelValues(outcome).Inc()
			return resp, nil
		case c := <-msgs:
			if c.Cancel && c.Id == m.Id {
				outcome = "cancelled"
				cancel()
			}
		case err := <-recvErr:
			// The stream broke: cancel the handler, wait for it, and end.
			cancel()
			<-done
			return nil, err
		}
	}
}

// recorder keeps a handler's response in memory.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(p)
}

// response is the recorded response, or a 422 when its body would not fit
// in a gRPC message (a 4xx: retrying would fail the same way).
func (r *recorder) response(maxSize int) *frontendpb.HTTPResponse {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	if limit := maxSize - 64<<10; maxSize > 0 && r.body.Len() > limit {
		return errorResponse(http.StatusUnprocessableEntity, "execution", "the response of "+strconv.Itoa(r.body.Len())+" bytes is larger than the "+strconv.Itoa(limit)+" bytes a querier may send to the query frontend; narrow the query")
	}
	hs := make([]frontendpb.Header, 0, len(r.header))
	for k, vs := range r.header {
		hs = append(hs, frontendpb.Header{Key: k, Values: vs})
	}
	return &frontendpb.HTTPResponse{Code: int32(r.code), Headers: hs, Body: r.body.Bytes()}
}

func errorResponse(code int, typ, msg string) *frontendpb.HTTPResponse {
	body, _ := json.Marshal(map[string]string{"status": "error", "errorType": typ, "error": msg})
	return &frontendpb.HTTPResponse{Code: int32(code), Headers: []frontendpb.Header{{Key: "Content-Type", Values: []string{"application/json"}}}, Body: body}
}

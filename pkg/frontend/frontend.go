package frontend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/hearthmetrics/hearth/pkg/frontend/queue"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Middleware wraps the queue round-tripper: the range-query middlewares
// (package queryrange) split, align, cache and shard a request into the
// sub-requests they pass to next.
type Middleware func(next http.RoundTripper) http.RoundTripper

// Limits are the per-tenant limits the frontend reads.
type Limits interface {
	// MaxQueriersPerTenant is the tenant's max_queriers_per_tenant.
	MaxQueriersPerTenant(id tenant.ID) int
	// MaxOutstandingPerTenant is the tenant's
	// max_outstanding_requests_per_tenant: its queries in flight in one
	// frontend; 0 means no limit.
	MaxOutstandingPerTenant(id tenant.ID) int
}

// ErrQuerierLost is returned by an [Executor] whose querier went away
// before answering: the request is tried again on another querier, and
// the worker loop ends.
var ErrQuerierLost = errors.New("querier lost")

// Request is a query handed to a querier: an HTTP request to the
// Prometheus API and the tenant it runs for. Its fields must not be
// modified: a retry hands the same Request to another querier.
type Request struct {
	Tenant tenant.ID
	Method string
	// URL is the path and query (/prometheus/api/v1/query?query=up).
	URL    string
	Header http.Header
	Body   []byte
}

// Response is a querier's answer.
type Response struct {
	Code   int
	Header http.Header
	Body   []byte
}

// Executor runs one request on a querier. ctx ends when the client goes
// away; the querier's handler context must end with it. It returns
// ErrQuerierLost (wrapped) when the querier went away.
type Executor func(ctx context.Context, req *Request) (*Response, error)

// job is a queued request and where its result goes.
type job struct {
	ctx    context.Context
	req    *Request
	result chan result // buffered: the worker never blocks on it
}

type result struct {
	resp        *Response
	err         error
	queueTime   time.Duration
	querierTime time.Duration
}

// Deps are what a Frontend needs.
type Deps struct {
	Config Config
	// HTTPPrefix is the Prometheus API's path prefix (-querier.http-prefix).
	HTTPPrefix string
	Limits     Limits
	// Middleware, optional, wraps the queue round-tripper.
	Middleware Middleware
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Prove, optional, answers a querier's challenge on a new stream
	// (auth.Cluster.Prove for ProofPurpose over the querier ID and the
	// challenge), so the querier knows it reached a cluster member.
	Prove func(querierID string, challenge []byte) []byte
}

// Frontend queues tenants' queries for the queriers that pull them.
type Frontend struct {
	cfg     Config
	prefix  string
	limits  Limits
	logger  *slog.Logger
	queue   *queue.Queue
	admit   *admission
	rt      http.RoundTripper
	handler http.Handler
	prove   func(querierID string, challenge []byte) []byte

	// pending counts requests between their enqueue and their result
	// (queued or executing), for the drain.
	pending atomic.Int64
	// inflight counts the queries admitted by the handler and not yet
	// answered; stopping refuses new ones. A query admitted before the
	// frontend began to stop still queues its split parts, shards and
	// retries while the frontend drains.
	inflight atomic.Int64
	stopping atomic.Bool
	running  chan struct{} // closed once the service runs

	queries     *prometheus.CounterVec
	retries     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	querierTime *prometheus.CounterVec
	workers     prometheus.Gauge
}

// New builds a frontend.
func New(d Deps) (*Frontend, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	f := promauto.With(d.Registerer)
	fe := &Frontend{
		cfg:     d.Config,
		prefix:  d.HTTPPrefix,
		limits:  d.Limits,
		logger:  d.Logger,
		queue:   queue.New(d.Registerer),
		running: make(chan struct{}),
		prove:   d.Prove,
		queries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_queries_total",
			Help: "Public requests answered by the query frontend, by tenant and HTTP status code.",
		}, []string{"tenant", "code"}),
		retries: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_retries_total",
			Help: "Requests tried again after a 5xx or a lost querier, by tenant (see -frontend.max-retries).",
		}, []string{"tenant"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hearth_query_frontend_query_duration_seconds",
			Help:    "Time from a public request's arrival at the query frontend to its answer, by tenant.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9), // 1ms to ~65s
		}, []string{"tenant"}),
		querierTime: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_querier_seconds_total",
			Help: "Querier time spent on each tenant's requests, as the query frontend measured it.",
		}, []string{"tenant"}),
		workers: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_query_frontend_connected_workers",
			Help: "Querier workers (gRPC streams, or in-process loops) pulling from this query frontend.",
		}),
	}
	fe.admit = newAdmission(func(id tenant.ID) int {
		if d.Limits == nil {
			return 0
		}
		return d.Limits.MaxOutstandingPerTenant(id)
	})
	fe.rt = roundTripperFunc(fe.RoundTrip)
	if d.Middleware != nil {
		fe.rt = d.Middleware(fe.rt)
	}
	fe.handler = fe.newHandler()
	return fe, nil
}

// roundTripperFunc is a function as an http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Service is the frontend's lifecycle. Stopping it stops accepting
// queries, lets the queriers drain the queue for
// -frontend.shutdown-grace-period, then fails what is left with 503.
func (f *Frontend) Service() *services.Service {
	return services.New("query-frontend", nil, func(ctx context.Context) error {
		close(f.running)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				f.forgetIdle(time.Hour)
			}
		}
	}, func(error) error {
		f.drain(f.cfg.ShutdownGracePeriod)
		return nil
	})
}

// forgetIdle deletes the metric series of tenants idle for idle.
func (f *Frontend) forgetIdle(idle time.Duration) {
	for _, id := range f.queue.ForgetIdle(idle) {
		match := prometheus.Labels{"tenant": string(id)}
		f.queries.DeletePartialMatch(match)
		f.retries.DeletePartialMatch(match)
		f.duration.DeletePartialMatch(match)
		f.querierTime.DeletePartialMatch(match)
	}
}

// drain stops accepting, waits up to grace for the queue to empty and the
// queries being executed to finish, and fails what is left.
func (f *Frontend) drain(grace time.Duration) {
	f.stopping.Store(true)
	left := f.queue.Len()
	f.logger.Info("Query frontend stopping: draining the queue", "queued", left, "grace_period", grace)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for f.pending.Load() > 0 || f.inflight.Load() > 0 {
		select {
		case <-deadline.C:
			f.logger.Warn("Queries still queued or executing at the end of the grace period", "queued", f.queue.Len(), "flag", "-frontend.shutdown-grace-period")
			f.failLeft()
			return
		case <-tick.C:
		}
	}
	f.failLeft()
}

// failLeft closes the queue and fails what it still held.
func (f *Frontend) failLeft() {
	left := f.queue.Close()
	for _, e := range left {
		e.Value.(*job).result <- result{err: queue.ErrStopped}
	}
	if len(left) > 0 {
		f.logger.Warn("Queries failed with 503: the queue was not drained within the grace period", "queries", len(left), "flag", "-frontend.shutdown-grace-period")
	}
}

// Serve is a querier worker's loop: it takes queued requests querier may
// serve and runs them with exec until ctx ends, the queue closes, or exec
// reports its querier lost. Each worker (a gRPC stream, an in-process
// loop) runs one Serve.
func (f *Frontend) Serve(ctx context.Context, querier string, exec Executor) error {
	f.queue.RegisterQuerier(querier)
	f.workers.Inc()
	defer func() {
		f.queue.UnregisterQuerier(querier)
		f.workers.Dec()
	}()
	cursor := -1
	for {
		e, next, err := f.queue.Dequeue(ctx, cursor, querier)
		if err != nil {
			return err
		}
		cursor = next
		j := e.Value.(*job)
		if j.ctx.Err() != nil {
			continue // The client went away as the request was taken.
		}
		start := time.Now()
		resp, err := exec(j.ctx, j.req)
		j.result <- result{resp: resp, err: err, querierTime: time.Since(start), queueTime: start.Sub(e.Enqueued())}
		if errors.Is(err, ErrQuerierLost) {
			return err
		}
	}
}

// RunInProcess runs n worker loops that execute requests with handler,
// the querier's own HTTP handler, until ctx ends or the queue closes: the
// all-in-one's queriers, with no gRPC in between.
func (f *Frontend) RunInProcess(ctx context.Context, querier string, n int, handler http.Handler) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = f.Serve(ctx, querier, InProcessExecutor(handler))
		}()
	}
	wg.Wait()
}

// InProcessExecutor runs requests on handler in this process.
func InProcessExecutor(handler http.Handler) Executor {
	return func(ctx context.Context, req *Request) (*Response, error) {
		r, err := http.NewRequestWithContext(tenant.WithID(ctx, req.Tenant), req.Method, req.URL, bytes.NewReader(req.Body))
		if err != nil {
			return badRequest(fmt.Errorf("rebuilding the request: %w", err)), nil
		}
		r.Header = req.Header.Clone()
		r.RequestURI = req.URL
		rec := &recorder{header: http.Header{}}
		handler.ServeHTTP(rec, r)
		return rec.response(), nil
	}
}

// RoundTrip queues r, which must carry its tenant in its context, and
// returns the querier's response. It tries again, up to
// -frontend.max-retries tries, when the response is a 5xx or the querier
// was lost; a 4xx is final. It refuses nothing for its tenant's sake (the
// handler admitted the query); it returns [queue.ErrStopped] when the
// frontend has stopped, and the context's error when the client went away.
func (f *Frontend) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	id, err := tenant.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	req := &Request{Tenant: id, Method: r.Method, URL: r.URL.RequestURI(), Header: forwardedHeader(r.Header)}
	if r.Body != nil {
		if req.Body, err = io.ReadAll(r.Body); err != nil {
			return nil, fmt.Errorf("reading the request body: %w", err)
		}
	}
	stats := StatsFromContext(ctx)
	stats.AddSubqueries(1)
	maxQueriers := 0
	if f.limits != nil {
		maxQueriers = f.limits.MaxQueriersPerTenant(id)
	}
	for try := 1; ; try++ {
		res, err := f.try(ctx, id, req, maxQueriers)
		if err != nil {
			return nil, err
		}
		stats.AddQueueTime(res.queueTime)
		stats.AddQuerierTime(res.querierTime)
		f.querierTime.WithLabelValues(string(id)).Add(res.querierTime.Seconds())
		retryable := errors.Is(res.err, ErrQuerierLost) || (res.err == nil && res.resp.Code/100 == 5 && !timedOut(res.resp))
		if !retryable || try >= f.cfg.MaxRetries || ctx.Err() != nil {
			if res.err != nil {
				return nil, res.err
			}
			return res.resp.http(r), nil
		}
		f.retries.WithLabelValues(string(id)).Inc()
		stats.AddRetries(1)
		f.logger.Debug("Retrying a query", "tenant", id, "try", try, "err", res.err, "code", codeOf(res))
	}
}

// try queues req once and waits for its result.
func (f *Frontend) try(ctx context.Context, id tenant.ID, req *Request, maxQueriers int) (result, error) {
	f.pending.Add(1)
	defer f.pending.Add(-1)
	j := &job{ctx: ctx, req: req, result: make(chan result, 1)}
	e, err := f.queue.Enqueue(id, j, maxQueriers)
	if err != nil {
		return result{}, err
	}
	select {
	case res := <-j.result:
		return res, nil
	case <-ctx.Done():
		f.queue.Cancel(e)
		return result{}, ctx.Err()
	}
}

// timedOut reports whether r is the querier's answer to a query that ran
// past -querier.timeout (503, error type timeout): trying it again would
// cost the same and time out the same.
func timedOut(r *Response) bool {
	return r.Code == http.StatusServiceUnavailable && bytes.Contains(r.Body, []byte(`"errorType":"timeout"`))
}

func codeOf(res result) int {
	if res.resp != nil {
		return res.resp.Code
	}
	return 0
}

// http turns r into an *http.Response to req.
func (r *Response) http(req *http.Request) *http.Response {
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Del("Content-Length")
	return &http.Response{
		StatusCode:    r.Code,
		Status:        strconv.Itoa(r.Code) + " " + http.StatusText(r.Code),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(r.Body)),
		ContentLength: int64(len(r.Body)),
		Request:       req,
	}
}

// forwardedHeader is what a querier sees of the client's headers: no
// credentials (the tenant travels apart, authenticated), no hop-by-hop
// headers, and no Accept-Encoding (the frontend compresses).
func forwardedHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Authorization", "Cookie", "X-Scope-Orgid", "Accept-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authorization"} {
		out.Del(k)
	}
	return out
}

// recorder is an http.ResponseWriter that keeps the response in memory.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(p)
}

func (w *recorder) response() *Response {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &Response{Code: w.code, Header: w.header, Body: w.body.Bytes()}
}

// badRequest is a 400 response with Prometheus's error JSON.
func badRequest(err error) *Response {
	return &Response{Code: http.StatusBadRequest, Header: http.Header{"Content-Type": {"application/json"}}, Body: apiError("bad_data", err.Error())}
}

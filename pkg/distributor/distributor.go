package distributor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearthmetrics/hearth/pkg/distributor/otlp"
	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/distributor/rw1"
	"github.com/hearthmetrics/hearth/pkg/distributor/rw2"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Ring is what the distributor needs from the ingester ring. *ring.Ring
// implements it. Methods must be safe for concurrent use.
type Ring interface {
	// Get returns the replicas for key, appending them to buf (which it
	// may return as Instances).
	Get(key uint32, op ring.Operation, buf []ringpb.InstanceDesc) (ring.ReplicationSet, error)
	// GetAll returns every instance, for /distributor/all_user_stats.
	GetAll(op ring.Operation) (ring.ReplicationSet, error)
	// ReplicationFactor is how many replicas each series has.
	ReplicationFactor() int
}

// IngesterClients returns a client for an ingester address.
// *clientpool.Pool implements it. Must be safe for concurrent use.
type IngesterClients interface {
	Get(addr string) (ingesterpb.IngesterClient, error)
}

// PrePushHook runs after validation and before the fan-out to ingesters:
// the seam for per-tenant rate limits and HA deduplication. It may remove
// series from req, or labels from a series (it is the only holder of the
// request then), but not change a label's name or value in place: the
// labels an ingester in this process may be given beside the pairs
// (remotewrite.LocalLabels) would no longer match them. An error
// fails the whole push and must match one of remotewrite's error classes
// (e.g. remotewrite.ErrRateLimited for 429). Must be safe for concurrent
// use.
type PrePushHook interface {
	BeforePush(ctx context.Context, t tenant.ID, req *ingesterpb.PushRequest) error
}

// Deps are the distributor's dependencies.
type Deps struct {
	Config  Config
	Ring    Ring
	Clients IngesterClients
	Limits  *limits.Overrides
	// Hooks run in order before the fan-out; may be empty.
	Hooks      []PrePushHook
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for timestamp validation; nil means time.Now.
	Now func() time.Time
}

// Distributor validates pushes and replicates them to ingesters. Safe for
// concurrent use.
type Distributor struct {
	cfg     Config
	ring    Ring
	clients IngesterClients
	limits  *limits.Overrides
	hooks   []PrePushHook
	logger  *slog.Logger
	now     func() time.Time
	metrics *metrics

	pool       *remotewrite.Pool
	states     sync.Pool // *pushState
	validators sync.Pool // *validator
	push       http.Handler
	otlp       http.Handler

	// pushes tracks ingester pushes, detached ones included, so stopping
	// waits for them.
	pushes sync.WaitGroup
	// pushesMu orders pushes.Add (under RLock, while not stopping) before
	// the stop's Wait (after stopping is set under Lock), as WaitGroup
	// requires: a push arriving while the distributor stops gets 503.
	pushesMu sync.RWMutex
	stopping bool
	svc      *services.Service
}

// New builds a distributor.
func New(d Deps) (*Distributor, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	if d.Ring == nil || d.Clients == nil || d.Limits == nil || d.Logger == nil || d.Registerer == nil {
		return nil, errors.New("distributor: Ring, Clients, Limits, Logger and Registerer are required")
	}
	dist := &Distributor{
		cfg: d.Config, ring: d.Ring, clients: d.Clients, limits: d.Limits, hooks: d.Hooks,
		logger: d.Logger, now: d.Now, metrics: newMetrics(d.Registerer),
		// Keep buffers of up to 16 MiB for reuse; bigger requests are rare.
		pool: remotewrite.NewPool(16 << 20),
	}
	if dist.now == nil {
		dist.now = time.Now
	}
	inflight := &inflightLimiter{limits: d.Config.InstanceLimits, metrics: dist.metrics}
	dist.push = dist.instrument(inflight.wrap(remotewrite.Dispatch(
		rw1.NewHandler(dist, dist.pool, d.Config.MaxRecvMsgSize, d.Config.decodeLimits(), d.Logger),
		rw2.NewHandler(dist, dist.pool, d.Config.MaxRecvMsgSize, d.Config.decodeLimits(), d.Logger),
	)))
	dist.otlp = dist.instrument(inflight.wrap(otlp.NewHandler(otlp.Deps{
		Pusher: dist, Pool: dist.pool, Limits: d.Limits, MaxSize: d.Config.MaxRecvMsgSize,
		DecodeLimits: d.Config.decodeLimits(), Logger: d.Logger,
	})))
	dist.svc = services.New("distributor", nil, nil, func(error) error {
		dist.pushesMu.Lock()
		dist.stopping = true
		dist.pushesMu.Unlock()
		dist.pushes.Wait()
		return nil
	})
	return dist, nil
}

// Service is the distributor's lifecycle: stopping waits for the ingester
// pushes still running. Start it after the ring and the client pool, so it
// stops before them.
func (d *Distributor) Service() *services.Service { return d.svc }

// PushHandler serves POST /api/v1/push (remote-write 1.0 and 2.0). The
// request's context must carry the tenant: wrap it with tenant.TrustHeader
// or the authentication middleware.
func (d *Distributor) PushHandler() http.Handler { return d.push }

// OTLPHandler serves OTLP/HTTP metric exports (package otlp). The
// request's context must carry the tenant, as for [Distributor.PushHandler].
func (d *Distributor) OTLPHandler() http.Handler { return d.otlp }

// CountDiscarded counts n samples of tenant t received and refused before
// they were pushed (by the OTLP handler, before translation), under reason.
func (d *Distributor) CountDiscarded(t tenant.ID, reason string, n int) {
	if n <= 0 {
		return
	}
	d.metrics.receivedSamples.WithLabelValues(string(t)).Add(float64(n))
	d.metrics.discardedSamples.WithLabelValues(string(t), reason).Add(float64(n))
}

// Push validates req for the tenant in ctx and writes the valid part to a
// quorum of ingesters. See remotewrite.Pusher.
func (d *Distributor) Push(ctx context.Context, req *remotewrite.Request) (remotewrite.Stats, error) {
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return remotewrite.Stats{}, err
	}
	pr := &req.Push
	d.countReceived(t, pr)
	if n := len(req.Body()); n > 0 {
		d.metrics.receivedBytes.WithLabelValues(string(t)).Add(float64(n))
	}

	v, _ := d.validators.Get().(*validator)
	if v == nil {
		v = &validator{metrics: d.metrics}
	}
	v.reset(t, d.limits.For(t), d.now(), req)
	local := req.SeriesLabels
	if len(local) != len(pr.Timeseries) {
		local = nil
	}
	kept := 0
	for i := range pr.Timeseries {
		if v.series(&pr.Timeseries[i]) {
			// Swap so every element keeps its own slices for reuse.
			pr.Timeseries[kept], pr.Timeseries[i] = pr.Timeseries[i], pr.Timeseries[kept]
			if local != nil {
				local[kept], local[i] = local[i], local[kept]
			}
			kept++
		}
	}
	pr.Timeseries = pr.Timeseries[:kept]
	if local != nil {
		req.SeriesLabels = local[:kept]
	} else {
		req.SeriesLabels = req.SeriesLabels[:0]
	}
	kept = 0
	for i := range pr.Metadata {
		if v.metadata(&pr.Metadata[i]) {
			pr.Metadata[kept], pr.Metadata[i] = pr.Metadata[i], pr.Metadata[kept]
			kept++
		}
	}
	pr.Metadata = pr.Metadata[:kept]
	invalid := v.err()
	d.validators.Put(v)

	for _, h := range d.hooks {
		if err := h.BeforePush(ctx, t, pr); err != nil {
			d.countHookDiscards(t, pr, err)
			return remotewrite.Stats{}, err
		}
	}
	if len(pr.Timeseries) == 0 && len(pr.Metadata) == 0 {
		return remotewrite.Stats{}, invalid
	}
	stats, err := d.fanOut(ctx, t, req)
	if err != nil && (invalid == nil || remotewrite.HTTPStatus(err) >= 500) {
		// A retryable failure wins over invalid data: the sender must
		// retry for the valid series to be written.
		return stats, err
	}
	return stats, invalid
}

// DiscardReason is implemented by the errors of [PrePushHook]s that
// discard a request's data (a rate limit, too many HA clusters): every
// sample, histogram and exemplar left in the request counts in
// hearth_discarded_samples_total with the error's reason. Errors without it
// (HA deduplication, which has its own counter) are not discards.
type DiscardReason interface {
	Reason() string
}

func (d *Distributor) countHookDiscards(t tenant.ID, pr *ingesterpb.PushRequest, err error) {
	var dr DiscardReason
	if !errors.As(err, &dr) {
		return
	}
	n := 0
	for i := range pr.Timeseries {
		ts := &pr.Timeseries[i]
		n += len(ts.Samples) + len(ts.Histograms) + len(ts.Exemplars)
	}
	if n > 0 {
		d.metrics.discardedSamples.WithLabelValues(string(t), dr.Reason()).Add(float64(n))
	}
}

func (d *Distributor) countReceived(t tenant.ID, pr *ingesterpb.PushRequest) {
	var samples, histograms, exemplars int
	for i := range pr.Timeseries {
		ts := &pr.Timeseries[i]
		samples += len(ts.Samples)
		histograms += len(ts.Histograms)
		exemplars += len(ts.Exemplars)
	}
	id := string(t)
	if samples > 0 {
		d.metrics.receivedSamples.WithLabelValues(id).Add(float64(samples))
	}
	if histograms > 0 {
		d.metrics.receivedHistograms.WithLabelValues(id).Add(float64(histograms))
	}
	if exemplars > 0 {
		d.metrics.receivedExemplars.WithLabelValues(id).Add(float64(exemplars))
	}
	if len(pr.Metadata) > 0 {
		d.metrics.receivedMetadata.WithLabelValues(id).Add(float64(len(pr.Metadata)))
	}
}

// instrument counts requests by status and times them.
func (d *Distributor) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		d.metrics.inflight.Inc()
		defer d.metrics.inflight.Dec()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		d.metrics.requests.WithLabelValues(strconv.Itoa(sw.code)).Inc()
		d.metrics.requestDuration.Observe(time.Since(start).Seconds())
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// IngesterError is data a quorum of a series' ingesters refused for good
// (out of order, duplicate timestamp with another value, a series limit).
// It matches remotewrite.ErrInvalid (400).
type IngesterError struct {
	Tenant  tenant.ID
	Reason  string
	Message string
}

func (e *IngesterError) Error() string {
	msg := e.Message
	if !strings.Contains(msg, "(err-hearth-") {
		// An ingester of an older version: its reason names the ID.
		msg += " (err-hearth-" + kebab(e.Reason) + ")"
	}
	return fmt.Sprintf("ingesters refused data of tenant %s: %s", e.Tenant, msg)
}

// Is makes the error match remotewrite.ErrInvalid.
func (e *IngesterError) Is(target error) bool { return target == remotewrite.ErrInvalid }

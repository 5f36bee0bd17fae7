package querier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/prometheus/prometheus/tsdb/chunks"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

const (
	// maxRemoteReadBody bounds a remote read request, compressed and
	// decoded: Prometheus's own limit (storage/remote decodeReadLimit).
	maxRemoteReadBody = 32 << 20
	// maxRemoteReadQueries bounds the queries of one request. Prometheus
	// sends one per selector of a PromQL expression.
	maxRemoteReadQueries = 100
	// remoteReadFrameBytes is the size of one frame of a streamed answer:
	// Prometheus's default --storage.remote.read-max-bytes-in-frame.
	remoteReadFrameBytes = 1 << 20
)

// remoteReadHandler serves remote read (POST <prefix>/api/v1/read) in both
// of its answers, SAMPLES and STREAMED_XOR_CHUNKS, with the tenant's query
// limits: before any data is read, every query of the request must have a
// valid matcher that does not match the empty string and a time range
// within -querier.max-query-length; the querier's -querier.max-concurrent
// slots (shared with the engine) and the tenant's
// -querier.max-concurrent-queries-per-tenant are taken by the route; the
// per-query series, chunk and chunk-bytes limits apply as on every read of
// the [Queryable]; the samples one request reads are bounded by the
// tenant's -querier.max-samples-per-query and, for SAMPLES answers, which
// are held in memory whole, by -querier.max-samples.
type remoteReadHandler struct {
	queryable storage.SampleAndChunkQueryable
	limits    Limits
	maxHeld   int // -querier.max-samples.
	slots     *concurrencyLimiter
	logger    *slog.Logger
	metrics   *metrics
	pool      sync.Pool // Marshalling buffers of streamed frames.
}

// remoteReadError is a remote read refused or failed, with its status.
type remoteReadError struct {
	status int
	msg    string
	cause  error // For errors.Is; nil for most.
}

func (e *remoteReadError) Error() string { return e.msg }

func (e *remoteReadError) Unwrap() error { return e.cause }

// errTooLong marks a query refused for its time range.
var errTooLong = errors.New("query too long")

func badRemoteRead(format string, args ...any) *remoteReadError {
	return &remoteReadError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// remoteReadQuery is one checked query of a request.
type remoteReadQuery struct {
	mint, maxt int64
	matchers   []*labels.Matcher
	hints      *storage.SelectHints
}

func (h *remoteReadHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := tenant.FromContext(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	req, err := decodeRemoteRead(r.Body)
	if err != nil {
		h.fail(w, id, err)
		return
	}
	queries, err := checkRemoteRead(req, h.limits, id)
	if err != nil {
		if errors.Is(err, errTooLong) {
			h.metrics.queriesTooLong.Inc()
		}
		h.fail(w, id, err)
		return
	}
	respType, err := remote.NegotiateResponseType(req.AcceptedResponseTypes)
	if err != nil {
		h.fail(w, id, badRemoteRead("%v", err))
		return
	}
	ctx := r.Context()
	if _, err := h.slots.Insert(ctx, ""); err != nil {
		h.fail(w, id, &remoteReadError{status: http.StatusServiceUnavailable, msg: "waiting for one of the querier's -querier.max-concurrent slots: " + err.Error()})
		return
	}
	defer h.slots.Delete(0)
	h.metrics.tenantQueries.WithLabelValues(string(id), "remote_read").Inc()
	budget := h.budget(id)
	if respType == prompb.ReadRequest_STREAMED_XOR_CHUNKS {
		h.streamChunks(ctx, w, id, queries, budget)
		return
	}
	h.samples(ctx, w, id, queries, min(budget, h.maxHeld))
}

// budget is the samples a request of id may read.
func (h *remoteReadHandler) budget(id tenant.ID) int {
	if h.limits != nil {
		if l := h.limits.For(id).MaxSamplesPerQuery; l > 0 {
			return l
		}
	}
	return h.maxHeld
}

// decodeRemoteRead reads and decodes a snappy-compressed ReadRequest,
// bounded by maxRemoteReadBody before anything is allocated for it.
func decodeRemoteRead(body io.Reader) (*prompb.ReadRequest, error) {
	compressed, err := io.ReadAll(io.LimitReader(body, maxRemoteReadBody+1))
	if err != nil {
		return nil, badRemoteRead("reading the remote read request: %v", err)
	}
	if len(compressed) > maxRemoteReadBody {
		return nil, &remoteReadError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("remote read request is larger than %d bytes", maxRemoteReadBody)}
	}
	n, err := snappy.DecodedLen(compressed)
	if err != nil {
		return nil, badRemoteRead("remote read request is not snappy-compressed (block format): %v", err)
	}
	if n > maxRemoteReadBody {
		return nil, &remoteReadError{status: http.StatusRequestEntityTooLarge, msg: fmt.Sprintf("remote read request decodes to %d bytes, more than the limit of %d", n, maxRemoteReadBody)}
	}
	buf, err := snappy.Decode(nil, compressed)
	if err != nil {
		return nil, badRemoteRead("remote read request is not snappy-compressed (block format): %v", err)
	}
	var req prompb.ReadRequest
	if err := proto.Unmarshal(buf, &req); err != nil {
		return nil, badRemoteRead("remote read request is not a prometheus.ReadRequest: %v", err)
	}
	return &req, nil
}

// checkRemoteRead checks every query of req against the tenant's limits
// and returns them converted, or the first problem found.
func checkRemoteRead(req *prompb.ReadRequest, l Limits, id tenant.ID) ([]remoteReadQuery, error) {
	if len(req.Queries) == 0 {
		return nil, badRemoteRead("remote read request has no queries")
	}
	if len(req.Queries) > maxRemoteReadQueries {
		return nil, badRemoteRead("remote read request has %d queries, more than the limit of %d", len(req.Queries), maxRemoteReadQueries)
	}
	var maxLength time.Duration
	if l != nil {
		maxLength = time.Duration(l.For(id).MaxQueryLength)
	}
	out := make([]remoteReadQuery, 0, len(req.Queries))
	for i, q := range req.Queries {
		if q == nil {
			return nil, badRemoteRead("query %d of the remote read request is empty", i)
		}
		matchers, err := remote.FromLabelMatchers(q.Matchers)
		if err != nil {
			return nil, badRemoteRead("query %d of the remote read request has an invalid matcher: %v", i, err)
		}
		if err := needSelective(matchers); err != nil {
			return nil, badRemoteRead("query %d of the remote read request: %v", i, err)
		}
		if q.EndTimestampMs < q.StartTimestampMs {
			return nil, badRemoteRead("query %d of the remote read request ends (%d) before it starts (%d)", i, q.EndTimestampMs, q.StartTimestampMs)
		}
		if maxLength > 0 {
			if length := time.Duration(q.EndTimestampMs-q.StartTimestampMs) * time.Millisecond; length > maxLength || length < 0 {
				err := badRemoteRead("query %d of the remote read request: %v", i, queryLengthError(length, maxLength, id))
				err.cause = errTooLong
				return nil, err
			}
		}
		rq := remoteReadQuery{mint: q.StartTimestampMs, maxt: q.EndTimestampMs, matchers: matchers}
		if hi := q.Hints; hi != nil {
			rq.hints = &storage.SelectHints{Start: hi.StartMs, End: hi.EndMs, Step: hi.StepMs, Func: hi.Func, Grouping: hi.Grouping, Range: hi.RangeMs, By: hi.By}
		}
		out = append(out, rq)
	}
	return out, nil
}

// needSelective refuses a selector without matchers, or whose matchers all
// match the empty string (it would select every series of the tenant), as
// Prometheus refuses such a selector in PromQL and in match[].
func needSelective(ms []*labels.Matcher) error {
	if len(ms) == 0 {
		return errors.New("no matchers; give at least one, e.g. {__name__=\"up\"}")
	}
	for _, m := range ms {
		if !m.Matches("") {
			return nil
		}
	}
	return fmt.Errorf("selector %s matches every series: at least one matcher must not match the empty string", selectorString(ms))
}

func selectorString(ms []*labels.Matcher) string {
	s := "{"
	for i, m := range ms {
		if i > 0 {
			s += ", "
		}
		s += m.String()
	}
	return s + "}"
}

// samples answers a SAMPLES request: every query's samples in one
// protobuf, held in memory, within budget samples in all.
func (h *remoteReadHandler) samples(ctx context.Context, w http.ResponseWriter, id tenant.ID, queries []remoteReadQuery, budget int) {
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, len(queries))}
	read := 0
	for i, q := range queries {
		res, err := h.sampleQuery(ctx, q, budget-read)
		if err != nil {
			h.fail(w, id, h.limitErr(err, id, budget))
			return
		}
		for _, ts := range res.Timeseries {
			read += len(ts.Samples) + len(ts.Histograms)
		}
		resp.Results[i] = res
	}
	h.metrics.tenantSamplesRead.WithLabelValues(string(id)).Add(float64(read))
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Encoding", "snappy")
	if err := remote.EncodeReadResponse(&resp, w); err != nil {
		h.logger.Debug("Writing remote read answer failed", "tenant", id, "err", err)
	}
}

func (h *remoteReadHandler) sampleQuery(ctx context.Context, q remoteReadQuery, budget int) (*prompb.QueryResult, error) {
	qr, err := h.queryable.Querier(q.mint, q.maxt)
	if err != nil {
		return nil, err
	}
	defer qr.Close()
	// ToQueryResult's limit is exclusive of its value; at least 1 so that
	// 0 does not mean "no limit".
	res, _, err := remote.ToQueryResult(qr.Select(ctx, false, q.hints, q.matchers...), max(budget, 1))
	return res, err
}

// streamChunks answers a STREAMED_XOR_CHUNKS request: frames of at most
// remoteReadFrameBytes, one series each, flushed as they are made. An
// error after the first frame cuts the connection, as Prometheus does, so
// that a truncated answer never looks complete.
func (h *remoteReadHandler) streamChunks(ctx context.Context, w http.ResponseWriter, id tenant.ID, queries []remoteReadQuery, budget int) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this connection", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
	sw := &startedWriter{w: w}
	cw := remote.NewChunkedWriter(sw, f)
	counter := &sampleBudget{left: budget, limit: budget}
	for i, q := range queries {
		err := func() error {
			qr, err := h.queryable.ChunkQuerier(q.mint, q.maxt)
			if err != nil {
				return err
			}
			defer qr.Close()
			ss := &budgetChunkSet{ChunkSeriesSet: qr.Select(ctx, true, q.hints, q.matchers...), budget: counter}
			_, err = remote.StreamChunkedReadResponses(cw, int64(i), ss, nil, remoteReadFrameBytes, &h.pool)
			return err
		}()
		if err != nil {
			if sw.started {
				h.logger.Warn("Streaming a remote read answer failed", "tenant", id, "query_index", i, "err", err)
				panic(http.ErrAbortHandler)
			}
			h.fail(w, id, h.limitErr(err, id, budget))
			return
		}
	}
	h.metrics.tenantSamplesRead.WithLabelValues(string(id)).Add(float64(counter.limit - counter.left))
}

// limitErr names the tenant's limit in the error of a read that went past
// its samples budget.
func (h *remoteReadHandler) limitErr(err error, id tenant.ID, budget int) error {
	var httpErr remote.HTTPError
	var over *samplesOverError
	if errors.As(err, &httpErr) || errors.As(err, &over) {
		h.metrics.queriesRejected.WithLabelValues("max_samples_per_query").Inc()
		return &remoteReadError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("remote read of tenant %q read more than %d samples, the limit -querier.max-samples-per-query (and -querier.max-samples for SAMPLES answers, which are held in memory); narrow its time range or matchers, or ask for STREAMED_XOR_CHUNKS", id, budget)}
	}
	return err
}

// fail answers err with its status (see readErrorStatus).
func (h *remoteReadHandler) fail(w http.ResponseWriter, id tenant.ID, err error) {
	failRead(w, h.logger, id, "Remote read failed", err)
}

// failRead answers a read error in plain text with readErrorStatus's
// status, logging the server's own failures.
func failRead(w http.ResponseWriter, logger *slog.Logger, id tenant.ID, msg string, err error) {
	status := readErrorStatus(err)
	if status >= 500 {
		logger.Warn(msg, "tenant", id, "err", err)
	}
	http.Error(w, err.Error(), status)
}

// readErrorStatus is the HTTP status of a read error: the querier's own
// errors as the API answers them, a remoteReadError with its own.
func readErrorStatus(err error) int {
	var (
		rerr     *remoteReadError
		limitErr *QueryLimitError
		unavail  *UnavailableError
	)
	status := http.StatusInternalServerError
	switch {
	case errors.As(err, &rerr):
		status = rerr.status
	case errors.As(err, &limitErr):
		status = http.StatusUnprocessableEntity
	case errors.As(err, &unavail):
		status = http.StatusServiceUnavailable
	case errors.As(err, new(promql.ErrQueryTimeout)):
		status = http.StatusServiceUnavailable
	case errors.As(err, new(promql.ErrQueryCanceled)), errors.Is(err, context.Canceled):
		status = 499 // The client went away, as Prometheus's API reports it.
	}
	return status
}

// startedWriter notes whether anything was written.
type startedWriter struct {
	w       io.Writer
	started bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	s.started = true
	return s.w.Write(p)
}

// sampleBudget counts the samples a request reads down from its limit.
type sampleBudget struct {
	left, limit int
}

// samplesOverError is a read past its samples budget.
type samplesOverError struct{ limit int }

func (e *samplesOverError) Error() string {
	return fmt.Sprintf("read more than %d samples", e.limit)
}

// budgetChunkSet counts the samples of the chunks it hands out against a
// budget, and ends with an error once it is spent.
type budgetChunkSet struct {
	storage.ChunkSeriesSet
	budget *sampleBudget
	err    error
}

func (s *budgetChunkSet) Next() bool { return s.err == nil && s.ChunkSeriesSet.Next() }

func (s *budgetChunkSet) At() storage.ChunkSeries {
	return &budgetChunkSeries{ChunkSeries: s.ChunkSeriesSet.At(), set: s}
}

func (s *budgetChunkSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.ChunkSeriesSet.Err()
}

type budgetChunkSeries struct {
	storage.ChunkSeries
	set *budgetChunkSet
}

func (c *budgetChunkSeries) Iterator(it chunks.Iterator) chunks.Iterator {
	if b, ok := it.(*budgetChunkIterator); ok {
		b.Iterator = c.ChunkSeries.Iterator(b.Iterator)
		b.set = c.set
		return b
	}
	return &budgetChunkIterator{Iterator: c.ChunkSeries.Iterator(nil), set: c.set}
}

type budgetChunkIterator struct {
	chunks.Iterator
	set *budgetChunkSet
}

func (it *budgetChunkIterator) Next() bool {
	if it.set.err != nil || !it.Iterator.Next() {
		return false
	}
	b := it.set.budget
	if m := it.Iterator.At(); m.Chunk != nil {
		b.left -= m.Chunk.NumSamples()
	}
	if b.left < 0 {
		it.set.err = &samplesOverError{limit: b.limit}
		return false
	}
	return true
}

func (it *budgetChunkIterator) Err() error {
	if it.set.err != nil {
		return it.set.err
	}
	return it.Iterator.Err()
}

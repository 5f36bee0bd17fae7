package otlp

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

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Pusher is what the handler needs from the distributor.
type Pusher interface {
	remotewrite.Pusher
	// CountDiscarded counts n samples of tenant t received and refused
	// before they reached Push, under reason (a label of
	// hearth_discarded_samples_total). Safe for concurrent use.
	CountDiscarded(t tenant.ID, reason string, n int)
}

// Deps are the handler's dependencies.
type Deps struct {
	Pusher Pusher
	// Pool recycles the push requests the translation fills.
	Pool *remotewrite.Pool
	// Limits has the tenants' translation settings.
	Limits *limits.Overrides
	// MaxSize bounds a body as sent and decompressed, and the label bytes
	// of its translation (-distributor.max-recv-msg-size).
	MaxSize int
	// DecodeLimits bound the translated request's series and label pairs,
	// as they bound a remote-write request's.
	DecodeLimits ingesterpb.DecodeLimits
	Logger       *slog.Logger
}

// Handler serves OTLP/HTTP metric exports. Safe for concurrent use.
type Handler struct {
	d          Deps
	bodies     sync.Pool // *[]byte
	converters sync.Pool // *converter
}

// converter is a translator with the appender it writes into.
type converter struct {
	app  appender
	conv *prometheusremotewrite.PrometheusConverter
}

// NewHandler returns a handler. The request's context must carry the
// tenant.
func NewHandler(d Deps) *Handler {
	return &Handler{d: d}
}

// maxPooledBody is the largest body buffer kept for reuse.
const maxPooledBody = 4 << 20

// ServeHTTP answers an export; see the package documentation.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	enc, err := ParseContentType(r.Header.Get("Content-Type"))
	var resp pmetricotlp.ExportResponse
	if err == nil {
		resp, err = h.export(r.Context(), w, r, enc)
	}
	if err != nil {
		remotewrite.LogError(r.Context(), h.d.Logger, err)
		WriteError(w, enc, err)
		return
	}
	var body []byte
	if enc == JSON {
		body, err = resp.MarshalJSON()
	} else {
		body, err = resp.MarshalProto()
	}
	if err != nil { // a response built here always marshals
		WriteError(w, enc, fmt.Errorf("marshalling the OTLP response: %w", err))
		return
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// export reads, decodes, translates and pushes one request.
func (h *Handler) export(ctx context.Context, w http.ResponseWriter, r *http.Request, enc Encoding) (pmetricotlp.ExportResponse, error) {
	resp := pmetricotlp.NewExportResponse()
	t, err := tenant.FromContext(ctx)
	if err != nil {
		return resp, err
	}
	bp, _ := h.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	body, err := readBody(w, r, h.d.MaxSize, *bp)
	var req pmetricotlp.ExportRequest
	if err == nil {
		req, err = Decode(body, enc)
	}
	if cap(body) <= maxPooledBody {
		*bp = body[:0]
		h.bodies.Put(bp)
	}
	if err != nil {
		return resp, err
	}
	md := req.Metrics()
	lim := h.d.Limits.For(t)
	p := plan(md, planOptions{
		allowDelta: lim.OTelAllowDeltaTemporality,
		promoted:   lim.PromoteResourceAttributes,
		targetInfo: !lim.OTelDisableTargetInfo,
	})
	if err := h.checkSize(&p); err != nil {
		return resp, err
	}
	var msgs []string
	for _, rf := range p.refused {
		h.d.Pusher.CountDiscarded(t, rf.reason, rf.points)
		msgs = append(msgs, fmt.Sprintf("%s [%s, %d points]", rf.message, rf.reason, rf.points))
	}
	refused := p.refusedPoints()
	if p.points == 0 {
		if refused > 0 {
			return resp, fmt.Errorf("%w: nothing written: %s", remotewrite.ErrInvalid, strings.Join(msgs, "; "))
		}
		return resp, nil
	}

	pushReq := h.d.Pool.Get()
	defer pushReq.Unref()
	pushReq.ASCIILabels = p.asciiLabels()
	c, _ := h.converters.Get().(*converter)
	if c == nil {
		c = &converter{conv: prometheusremotewrite.NewPrometheusConverter(nil)}
	}
	c.app.reset(pushReq)
	c.conv.Reset(&c.app)
	annots, cerr := c.conv.FromMetrics(ctx, md, settings(lim))
	c.conv.Reset(nil)
	appended := c.app.samples + c.app.histograms
	c.app.req, c.app.push, c.app.last = nil, nil, labels.EmptyLabels()
	h.converters.Put(c)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return resp, fmt.Errorf("translating OTLP metrics: %w", ctxErr)
	}
	if cerr != nil {
		n := 1
		if j, ok := cerr.(interface{ Unwrap() []error }); ok {
			n = len(j.Unwrap())
		}
		h.d.Pusher.CountDiscarded(t, ReasonTranslation, n)
		refused += n
		msgs = append(msgs, fmt.Sprintf("translating: %.1000s [%s]", strings.ReplaceAll(cerr.Error(), "\n", "; "), ReasonTranslation))
	}

	var stats remotewrite.Stats
	var perr error
	if len(pushReq.Push.Timeseries) > 0 || len(pushReq.Push.Metadata) > 0 {
		stats, perr = h.d.Pusher.Push(ctx, pushReq)
	}
	switch {
	case perr == nil:
	case errors.Is(perr, remotewrite.ErrDeduplicated):
		// An HA replica's push dropped on purpose: acknowledged, as
		// remote write acknowledges it.
		return resp, nil
	case errors.Is(perr, remotewrite.ErrInvalid):
		refused += max(appended-stats.Samples-stats.Histograms, 0)
		msgs = append(msgs, perr.Error())
	default:
		return resp, perr
	}
	written := stats.Samples + stats.Histograms
	if refused > 0 && written == 0 {
		return resp, fmt.Errorf("%w: nothing written: %s", remotewrite.ErrInvalid, strings.Join(msgs, "; "))
	}
	if refused > 0 {
		// Only refused points are reported: OpenTelemetry SDKs report any
		// partial success as a failed export, and Prometheus's receiver
		// drops refused exemplars and translation warnings silently too
		// (they are counted in hearth_discarded_samples_total, and
		// warnings logged at debug level).
		ps := resp.PartialSuccess()
		ps.SetRejectedDataPoints(int64(refused))
		ps.SetErrorMessage(strings.Join(msgs, "; "))
	}
	if len(annots) > 0 {
		ws, _ := annots.AsStrings("", 3, 0)
		h.d.Logger.Debug("Warnings translating OTLP metrics", "tenant", t, "warnings", ws)
	}
	return resp, nil
}

// checkSize refuses a request whose translation would exceed the request
// limits, before it is built.
func (h *Handler) checkSize(p *planResult) error {
	const split = "; split the request (the exporter's batch size)"
	if lim := h.d.DecodeLimits.MaxSeries; lim > 0 && p.series > lim {
		return fmt.Errorf("%w: OTLP request translates to about %d series, limit %d (-distributor.max-series-per-request)%s", remotewrite.ErrTooLarge, p.series, lim, split)
	}
	if lim := h.d.DecodeLimits.MaxLabels; lim > 0 && p.labels > lim {
		return fmt.Errorf("%w: OTLP request translates to about %d label pairs, limit %d (-distributor.max-labels-per-request)%s", remotewrite.ErrTooLarge, p.labels, lim, split)
	}
	if p.bytes > h.d.MaxSize {
		return fmt.Errorf("%w: OTLP request translates to about %d bytes of labels, limit %d (-distributor.max-recv-msg-size)%s", remotewrite.ErrTooLarge, p.bytes, h.d.MaxSize, split)
	}
	return nil
}

// settings are the translator's settings for a tenant: Prometheus's
// defaults, with the tenant's strategy, suffixes, promoted attributes,
// target_info and delta temporality.
func settings(l *limits.Limits) prometheusremotewrite.Settings {
	return prometheusremotewrite.Settings{
		AddMetricSuffixes: l.OTelMetricSuffixesEnabled,
		AllowUTF8:         l.OTelTranslationStrategy == limits.OTelUTF8,
		PromoteResourceAttributes: prometheusremotewrite.NewPromoteResourceAttributes(config.OTLPConfig{
			PromoteResourceAttributes: l.PromoteResourceAttributes,
		}),
		DisableTargetInfo:     l.OTelDisableTargetInfo,
		AllowDeltaTemporality: l.OTelAllowDeltaTemporality,
		// Prometheus's defaults (config.DefaultOTLPConfig).
		LabelNameUnderscoreSanitization:      true,
		LabelNamePreserveMultipleUnderscores: true,
	}
}

// Status returns the HTTP status OTLP exporters get for err: remote
// write's ([remotewrite.HTTPStatus]), except that every server-side
// failure is 503, the one 5xx exporters retry besides 502 and 504.
func Status(err error) int {
	s := remotewrite.HTTPStatus(err)
	if s >= 500 && s != http.StatusBadGateway && s != http.StatusGatewayTimeout {
		return http.StatusServiceUnavailable
	}
	return s
}

// grpcCode is the google.rpc.Status code of an HTTP status.
func grpcCode(s int) codes.Code {
	switch s {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return codes.InvalidArgument
	case http.StatusUnsupportedMediaType:
		return codes.Unimplemented
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
		return codes.Unavailable
	}
	return codes.Unknown
}

// WriteError answers err as OTLP/HTTP asks: its status ([Status]) and a
// google.rpc.Status body in encoding enc naming what was wrong, with
// Retry-After on a 429 or 503 whose error knows when to retry
// ([remotewrite.RetryAfter]).
func WriteError(w http.ResponseWriter, enc Encoding, err error) {
	s := Status(err)
	st := &status.Status{Code: int32(grpcCode(s)), Message: err.Error()}
	var body []byte
	if enc == JSON {
		body, _ = protojson.Marshal(st)
	} else {
		body, _ = proto.Marshal(st)
	}
	var ra remotewrite.RetryAfter
	if (s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable) && errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ra.RetryAfter()), 10))
	}
	w.Header().Set("Content-Type", enc.ContentType())
	w.WriteHeader(s)
	_, _ = w.Write(body)
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}

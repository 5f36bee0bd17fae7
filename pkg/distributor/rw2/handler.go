package rw2

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Handler serves remote-write 2.0 pushes. Safe for concurrent use.
type Handler struct {
	pusher   remotewrite.Pusher
	pool     *remotewrite.Pool
	maxSize  int
	limits   ingesterpb.DecodeLimits
	logger   *slog.Logger
	decoders sync.Pool
}

// NewHandler returns a handler that decodes bodies of at most maxSize
// decompressed bytes, within lim, into requests from pool and pushes them
// with p. The request's context must carry the tenant.
func NewHandler(p remotewrite.Pusher, pool *remotewrite.Pool, maxSize int, lim ingesterpb.DecodeLimits, logger *slog.Logger) *Handler {
	return &Handler{pusher: p, pool: pool, maxSize: maxSize, limits: lim, logger: logger}
}

// ServeHTTP answers 204 with the written-counts headers when everything was
// written, otherwise the status of the error ([remotewrite.HTTPStatus]) with
// its text and the counts of what was written anyway.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := h.pool.Get()
	defer req.Unref()
	req.Protocol = remotewrite.V2
	var stats remotewrite.Stats
	body, err := req.ReadBody(w, r, h.maxSize)
	if err == nil {
		d, _ := h.decoders.Get().(*Decoder)
		if d == nil {
			d = &Decoder{}
		}
		d.Limits = h.limits
		err = d.Decode(body, &req.Push)
		// Checked while decoding: validation skips its UTF-8 checks.
		req.ASCIILabels = err == nil && d.ASCIILabels()
		if errors.Is(err, ingesterpb.ErrDecodeLimit) {
			var le *ingesterpb.DecodeLimitError
			errors.As(err, &le)
			err = fmt.Errorf("%w: remote-write 2.0 body: %w (-distributor.max-%s-per-request); split the request", remotewrite.ErrTooLarge, err, le.What)
		}
		if d.Reusable() {
			h.decoders.Put(d)
		}
	}
	if err == nil {
		stats, err = h.pusher.Push(r.Context(), req)
	}
	remotewrite.LogError(r.Context(), h.logger, err)
	stats.SetHeaders(w)
	remotewrite.WriteError(w, err)
}

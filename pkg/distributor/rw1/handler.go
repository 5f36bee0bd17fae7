package rw1

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Handler serves remote-write 1.0 pushes. Safe for concurrent use.
type Handler struct {
	pusher  remotewrite.Pusher
	pool    *remotewrite.Pool
	maxSize int
	limits  ingesterpb.DecodeLimits
	logger  *slog.Logger
}

// NewHandler returns a handler that decodes bodies of at most maxSize
// decompressed bytes, within lim, into requests from pool and pushes them
// with p. The request's context must carry the tenant.
func NewHandler(p remotewrite.Pusher, pool *remotewrite.Pool, maxSize int, lim ingesterpb.DecodeLimits, logger *slog.Logger) *Handler {
	return &Handler{pusher: p, pool: pool, maxSize: maxSize, limits: lim, logger: logger}
}

// ServeHTTP answers 204 when everything was written, otherwise the status of
// the error ([remotewrite.HTTPStatus]) with its text. Like remote-write 2.0
// it sets the written-counts headers, which 1.0 senders ignore: a
// deduplicated HA push (202) says 0 in both protocols.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := h.pool.Get()
	defer req.Unref()
	req.Protocol = remotewrite.V1
	var stats remotewrite.Stats
	body, err := req.ReadBody(w, r, h.maxSize)
	if err == nil {
		err = DecodeRequest(body, req, h.limits)
	}
	if err == nil {
		stats, err = h.pusher.Push(r.Context(), req)
	}
	remotewrite.LogError(r.Context(), h.logger, err)
	stats.SetHeaders(w)
	remotewrite.WriteError(w, err)
}

// Decode decodes a remote-write 1.0 WriteRequest into dst, reusing dst's
// slices; dst's strings alias body (see UnmarshalZeroCopy). The source is
// always SOURCE_API: a client cannot claim to be the ruler.
func Decode(body []byte, dst *ingesterpb.PushRequest) error {
	return DecodeLimits(body, dst, ingesterpb.DecodeLimits{})
}

// DecodeLimits is [Decode] within lim: a request over a limit is
// [remotewrite.ErrTooLarge] (413), naming its count and the limit.
func DecodeLimits(body []byte, dst *ingesterpb.PushRequest, lim ingesterpb.DecodeLimits) error {
	_, err := decode(body, dst, lim)
	return err
}

// DecodeRequest is [DecodeLimits] into req.Push, also setting
// req.ASCIILabels when every series label is ASCII: the decoder checks it
// with the bytes at hand, and validation then skips its UTF-8 checks.
func DecodeRequest(body []byte, req *remotewrite.Request, lim ingesterpb.DecodeLimits) error {
	info, err := decode(body, &req.Push, lim)
	req.ASCIILabels = info.ASCIILabels
	return err
}

// decode is [DecodeLimits], also returning what the decoder learnt.
func decode(body []byte, dst *ingesterpb.PushRequest, lim ingesterpb.DecodeLimits) (ingesterpb.DecodeInfo, error) {
	info, err := dst.UnmarshalZeroCopyInfo(body, lim)
	if err != nil {
		if errors.Is(err, ingesterpb.ErrDecodeLimit) {
			return info, fmt.Errorf("%w: remote-write 1.0 body: %w%s", remotewrite.ErrTooLarge, err, limitFlag(err))
		}
		return info, fmt.Errorf("%w: remote-write 1.0 body: %w", remotewrite.ErrMalformed, err)
	}
	dst.Source = ingesterpb.Source_SOURCE_API
	return info, nil
}

// limitFlag names the flag of the limit err is over.
func limitFlag(err error) string {
	var le *ingesterpb.DecodeLimitError
	if !errors.As(err, &le) {
		return ""
	}
	return " (-distributor.max-" + le.What + "-per-request); split the request"
}

package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Protocol is a remote-write protocol version.
type Protocol int

// The protocols.
const (
	V1 Protocol = iota + 1 // prometheus.WriteRequest
	V2                     // io.prometheus.write.v2.Request
)

// Protobuf message names carried in the content type's proto parameter.
const (
	ProtoV1 = "prometheus.WriteRequest"
	ProtoV2 = "io.prometheus.write.v2.Request"
)

// ParseContentType says which protocol a Content-Type names:
// application/x-protobuf is 1.0 unless its proto parameter says otherwise;
// an empty content type is 1.0, as Prometheus's receiver treats it.
// Anything else is ErrUnsupportedMediaType.
func ParseContentType(ct string) (Protocol, error) {
	if ct == "" {
		return V1, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, fmt.Errorf("%w: content type %q: %w", ErrUnsupportedMediaType, ct, err)
	}
	if mt != "application/x-protobuf" {
		return 0, fmt.Errorf("%w: content type %q, want application/x-protobuf", ErrUnsupportedMediaType, mt)
	}
	switch p := params["proto"]; p {
	case "", ProtoV1:
		return V1, nil
	case ProtoV2:
		return V2, nil
	default:
		return 0, fmt.Errorf("%w: protobuf message %q, want %s or %s", ErrUnsupportedMediaType, p, ProtoV1, ProtoV2)
	}
}

// Dispatch routes a push to v1 or v2 by its content type, and answers 405
// to anything but POST and 415 to an unknown content type.
func Dispatch(v1, v2 http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p, err := ParseContentType(r.Header.Get("Content-Type"))
		if err != nil {
			WriteError(w, err)
			return
		}
		if p == V2 {
			v2.ServeHTTP(w, r)
			return
		}
		v1.ServeHTTP(w, r)
	})
}

// WriteError answers with err's status ([HTTPStatus]) and its text; a nil
// err is 204 No Content. A 429 or 503 whose error implements [RetryAfter]
// carries a Retry-After header in whole seconds, at least 1. Other headers
// must be set before.
func WriteError(w http.ResponseWriter, err error) {
	if err == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status := HTTPStatus(err)
	var ra RetryAfter
	if (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ra.RetryAfter()), 10))
	}
	http.Error(w, WithErrorID(err), status)
}

// WithErrorID is err's text ending with its error ID, the section of
// docs/errors.md that explains it: the ID the error names itself, else
// the one of its class.
func WithErrorID(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "(err-hearth-") {
		return msg
	}
	id := "err-hearth-push-failed"
	switch {
	case errors.Is(err, ErrUnsupportedMediaType):
		id = "err-hearth-unsupported-media-type"
	case errors.Is(err, ErrTooLarge):
		id = "err-hearth-request-too-large"
	case errors.Is(err, ErrMalformed):
		id = "err-hearth-malformed-request"
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		id = "err-hearth-ingesters-unavailable"
	}
	return msg + " (" + id + ")"
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// LogError logs a push that failed with a server-side (5xx) status; client
// errors are counted in metrics, not logged.
func LogError(ctx context.Context, logger *slog.Logger, err error) {
	if err == nil || HTTPStatus(err) < 500 {
		return
	}
	id, _ := tenant.FromContext(ctx)
	logger.Warn("Push failed", "tenant", id, "err", err)
}

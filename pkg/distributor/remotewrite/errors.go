package remotewrite

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Error classes. Errors anywhere on the push path wrap (or match with
// errors.Is) one of these; [HTTPStatus] turns the class into a status code,
// and nothing else on the push path picks status codes.
var (
	// ErrUnsupportedMediaType: unknown content type, protobuf message or
	// content encoding (415).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrTooLarge: the body, compressed or decoded, is over the limit (413).
	ErrTooLarge = errors.New("request too large")
	// ErrMalformed: the body is not valid snappy or protobuf (400).
	ErrMalformed = errors.New("malformed request")
	// ErrInvalid: data that can never be accepted, e.g. a series failing
	// validation or refused by a quorum of ingesters (400). Valid data of
	// the same request has been written.
	ErrInvalid = errors.New("invalid data")
	// ErrRateLimited: over a per-tenant rate limit; retry later (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the write may succeed if retried, e.g. no quorum of
	// ingesters acknowledged it, or an instance limit of this process is
	// reached (503).
	ErrUnavailable = errors.New("service unavailable")
	// ErrDeduplicated: the push came from an HA replica that is not the
	// elected one of its cluster and was dropped on purpose (202 Accepted,
	// with written counts of 0). Senders must not retry it, and do not.
	ErrDeduplicated = errors.New("deduplicated")
)

// RetryAfter is implemented by errors that know when a retry may succeed;
// [WriteError] sends it as the Retry-After header of a 429 or 503.
type RetryAfter interface {
	RetryAfter() time.Duration
}

// HTTPStatus maps an error of the push path to its HTTP status code. It is
// the only place that does.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusNoContent
	case errors.Is(err, ErrDeduplicated):
		return http.StatusAccepted
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, tenant.ErrMissing):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

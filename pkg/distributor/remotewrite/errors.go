package remotewrite

import (
	"context"
	"errors"
	"net/http"

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
	// ingesters acknowledged it (503).
	ErrUnavailable = errors.New("service unavailable")
)

// HTTPStatus maps an error of the push path to its HTTP status code. It is
// the only place that does.
func HTTPStatus(err error) int {
	switch {
	case err == nil:
		return http.StatusNoContent
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

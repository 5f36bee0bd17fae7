package querier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// This file is the one place where read errors are classified: ingester
// and chunk store errors become the querier's error types here, and [statusCode] maps those
// to HTTP statuses. The Prometheus API code maps the rest (a bad expression
// is 400 bad_data, a query over -querier.max-samples 422 execution, a query
// past -querier.timeout 503 timeout).

// QueryLimitError is a query refused because it would exceed a per-query
// limit (series, chunks or bytes) in one ingester or in the chunk store. Its
// message names the limit. The API answers it with 422 execution, as
// Prometheus answers a query that loads too many samples.
type QueryLimitError struct {
	Message string
}

func (e *QueryLimitError) Error() string { return e.Message }

// UnavailableError is a read that did not reach enough ingesters, or the
// chunk store. It
// matches [tsdb.ErrNotReady] under errors.Is, which the Prometheus API
// reports as error type "unavailable"; [statusCode] makes that 503 so
// clients and the query frontend retry.
type UnavailableError struct {
	Err error
}

func (e *UnavailableError) Error() string { return e.Err.Error() }

// Unwrap returns the cause and tsdb.ErrNotReady.
func (e *UnavailableError) Unwrap() []error { return []error{e.Err, tsdb.ErrNotReady} }

// ingesterError converts the error of one call to the ingester at addr.
func ingesterError(addr string, err error) error {
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.ResourceExhausted:
			return &QueryLimitError{Message: st.Message()}
		case codes.Canceled:
			return fmt.Errorf("ingester %s: %w", addr, context.Canceled)
		case codes.DeadlineExceeded:
			return fmt.Errorf("ingester %s: %w", addr, context.DeadlineExceeded)
		}
	}
	return fmt.Errorf("ingester %s: %w", addr, err)
}

// fanoutError converts the error of a read across the replication set,
// given the context the read ran in.
func fanoutError(ctx context.Context, op string, err error) error {
	var limitErr *QueryLimitError
	switch {
	case errors.As(err, &limitErr):
		return limitErr
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return promql.ErrQueryTimeout(op)
	case errors.Is(ctx.Err(), context.Canceled):
		return promql.ErrQueryCanceled(op)
	}
	return &UnavailableError{Err: fmt.Errorf("%s: %w", op, err)}
}

func storeLimitError(id tenant.ID, what, flag string, limit int) error {
	return &QueryLimitError{Message: fmt.Sprintf("query fetched more than %d %s from the chunk store, the limit -%s of tenant %q (err-hearth-query-fetched-too-much)", limit, what, flag, id)}
}

// storeError converts an error of the chunk store, given the context the
// read ran in: a deadline or cancellation as for ingesters, a corrupt row
// 500 internal, anything else 503 unavailable so the read is retried. A
// store error always fails the read: no partial results.
func storeError(ctx context.Context, op string, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return promql.ErrQueryTimeout(op)
	case errors.Is(ctx.Err(), context.Canceled):
		return promql.ErrQueryCanceled(op)
	case errors.Is(err, chunk.ErrCorrupt):
		return promql.ErrStorage{Err: fmt.Errorf("chunk store %s: %w", op, err)}
	}
	return &UnavailableError{Err: fmt.Errorf("chunk store %s: %w", op, err)}
}

// statusCode overrides the Prometheus API's HTTP status where Hearth
// differs: a read that could not reach enough ingesters is 503, whatever
// the endpoint (Prometheus reports storage errors of the labels and series
// endpoints as 422). It is generic only because the API's error-number type
// is unexported; it is used as a v1.OverrideErrorCode.
func statusCode[N any](_ N, err error) (int, bool) {
	if errors.Is(err, tsdb.ErrNotReady) {
		return http.StatusServiceUnavailable, true
	}
	return 0, false
}

// singleTenant answers 400 to a federated request (tenant federation) on a
// path that serves one tenant at a time, naming the tenants.
func singleTenant(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := tenant.FromContext(r.Context())
		if err == nil {
			_, err = tenant.Single(id)
		}
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "bad_data", err.Error()+" (err-hearth-federation-unsupported)", logger, id)
			return
		}
		next.ServeHTTP(w, r)
	})
}

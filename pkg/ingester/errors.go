package ingester

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// ErrNotRunning is returned by every call while the ingester is starting or
// stopping: the same call may succeed later, on this or another ingester.
var ErrNotRunning = errors.New("ingester is not running")

// errTenantClosed is returned when a tenant's DB was closed under a call
// (shutdown); like ErrNotRunning it is retryable.
var errTenantClosed = errors.New("tenant storage is closed")

// walError says a write to a tenant's WAL failed (disk full, I/O error).
// The push that hit it and every later push of the tenant fail with it
// until the ingester has reopened the tenant's TSDB; all are retryable.
type walError struct {
	tenant tenant.ID
	dir    string // the WAL directory
	err    error
}

func (e *walError) Error() string {
	return fmt.Sprintf("writing the WAL of tenant %q in %s failed: %v; the tenant's writes are refused until the ingester has reopened its WAL, retry later (err-hearth-wal-failed)", e.tenant, e.dir, e.err)
}

func (e *walError) Unwrap() error { return e.err }

// seriesLimitError says a new series was refused because a series limit
// is reached. It is returned by the head's series-creation hook and
// reported per series in PushResponse.errors.
type seriesLimitError struct {
	reason string // per_tenant_series_limit, per_metric_series_limit or instance_series_limit
	flag   string // the flag of the limit
	limit  int
	tenant tenant.ID
	metric string // per-metric limit only
	// retryable: the instance limit may pass later (series expire, the
	// limit is raised, the ring grows); tenant limits are the tenant's.
	retryable bool
}

func (e *seriesLimitError) Error() string {
	if e.retryable {
		return fmt.Sprintf("this ingester holds its limit of %d in-memory series (-%s); series of tenant %q are refused until some expire", e.limit, e.flag, e.tenant)
	}
	if e.metric != "" {
		return fmt.Sprintf("per-metric series limit of %d reached for metric %q of tenant %q (-%s)", e.limit, e.metric, e.tenant, e.flag)
	}
	return fmt.Sprintf("per-tenant series limit of %d reached for tenant %q (-%s)", e.limit, e.tenant, e.flag)
}

// metadataLimitError says a metadata entry was refused by a metadata limit.
type metadataLimitError struct {
	reason string
	flag   string
	limit  int
	tenant tenant.ID
}

func (e *metadataLimitError) Error() string {
	return fmt.Sprintf("metadata limit of %d reached for tenant %q (-%s)", e.limit, e.tenant, e.flag)
}

// QueryLimitError says a query fetched more than a per-query limit allows.
// It maps to gRPC ResourceExhausted; the querier answers HTTP 422.
type QueryLimitError struct {
	// Flag is the flag of the limit, e.g. "querier.max-series-per-query".
	Flag   string
	What   string // "series", "chunks" or "chunk bytes"
	Limit  int
	Tenant tenant.ID
}

func (e *QueryLimitError) Error() string {
	return fmt.Sprintf("query fetched more than %d %s from this ingester, the limit -%s of tenant %q (err-hearth-query-fetched-too-much)", e.Limit, e.What, e.Flag, e.Tenant)
}

// invalidArgumentError marks an error in the request (a bad matcher).
type invalidArgumentError struct{ err error }

func (e invalidArgumentError) Error() string { return e.err.Error() }
func (e invalidArgumentError) Unwrap() error { return e.err }

// toStatus maps an error to a gRPC status. It is the only place that picks
// gRPC codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var qle *QueryLimitError
	var iae invalidArgumentError
	switch {
	case errors.Is(err, tenant.ErrMissing):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.As(err, &qle):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.As(err, &iae):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	default:
		// Not running, tenant closed, disk full, WAL write failures: the
		// whole request may succeed later.
		return status.Error(codes.Unavailable, err.Error())
	}
}

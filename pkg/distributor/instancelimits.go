package distributor

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
)

// InstanceLimits protect one distributor process whatever the tenants do.
// They are not per tenant: a refusal is 503, which senders retry, possibly
// on another distributor.
type InstanceLimits struct {
	MaxInflightPushRequests     int   `yaml:"max_inflight_push_requests"`
	MaxInflightPushRequestBytes int64 `yaml:"max_inflight_push_request_bytes"`
}

// RegisterFlags registers the -distributor.instance-limits.* flags.
func (l *InstanceLimits) RegisterFlags(f *flag.FlagSet) {
	// 2,000 requests is Mimir's default. Prometheus sends requests of
	// ~50-200 KiB compressed, so 100 MiB admits ~500-2,000 of them; a
	// request's decoded body and series take roughly 5-20x its compressed
	// size, so these bound a distributor's push memory to a few GiB. Raise
	// both on large distributors; 0 disables (Cortex's default).
	f.IntVar(&l.MaxInflightPushRequests, "distributor.instance-limits.max-inflight-push-requests", 2000, "Maximum push requests this distributor handles at once; more get 503. 0 disables.")
	f.Int64Var(&l.MaxInflightPushRequestBytes, "distributor.instance-limits.max-inflight-push-request-bytes", 100<<20, "Maximum compressed bytes of the push requests this distributor handles at once; more get 503. A request is admitted alone even when it is larger. 0 disables. See also -distributor.max-recv-msg-size.")
}

// Validate reports every invalid limit.
func (l *InstanceLimits) Validate() []error {
	var errs []error
	if l.MaxInflightPushRequests < 0 {
		errs = append(errs, fmt.Errorf("distributor.instance-limits.max-inflight-push-requests is %d, must not be negative", l.MaxInflightPushRequests))
	}
	if l.MaxInflightPushRequestBytes < 0 {
		errs = append(errs, fmt.Errorf("distributor.instance-limits.max-inflight-push-request-bytes is %d, must not be negative", l.MaxInflightPushRequestBytes))
	}
	return errs
}

// Reasons of InstanceLimitError, the limit label of
// hearth_distributor_instance_limit_rejections_total.
const (
	ReasonMaxInflightPushRequests     = "max_inflight_push_requests"
	ReasonMaxInflightPushRequestBytes = "max_inflight_push_request_bytes"
)

// InstanceLimitError is a push refused because this process is at one of
// its [InstanceLimits]. It matches remotewrite.ErrUnavailable (503): the
// sender retries.
type InstanceLimitError struct {
	Reason string
	Limit  int64
}

func (e *InstanceLimitError) Error() string {
	return fmt.Sprintf("distributor instance limit reached: %d in flight (-distributor.instance-limits.%s); retry later (err-hearth-distributor-instance-limit)",
		e.Limit, kebab(e.Reason))
}

// Is makes the error match remotewrite.ErrUnavailable.
func (e *InstanceLimitError) Is(target error) bool { return target == remotewrite.ErrUnavailable }

func kebab(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// inflightLimiter enforces the instance limits around the push handler.
type inflightLimiter struct {
	limits   InstanceLimits
	requests atomic.Int64
	bytes    atomic.Int64
	metrics  *metrics
}

func (l *inflightLimiter) wrap(next http.Handler) http.Handler {
	if l.limits.MaxInflightPushRequests == 0 && l.limits.MaxInflightPushRequestBytes == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit := int64(l.limits.MaxInflightPushRequests); limit > 0 {
			n := l.requests.Add(1)
			defer l.requests.Add(-1)
			if n > limit {
				l.refuse(w, ReasonMaxInflightPushRequests, limit)
				return
			}
		}
		if limit := l.limits.MaxInflightPushRequestBytes; limit > 0 {
			if size := r.ContentLength; size >= 0 {
				total := l.add(size)
				defer l.add(-size)
				if total > limit && total != size {
					l.refuse(w, ReasonMaxInflightPushRequestBytes, limit)
					return
				}
			} else {
				// Unknown length (chunked): count the bytes as they are
				// read; ReadBody maps the read error to 503.
				body := &countingBody{ReadCloser: r.Body, l: l}
				r.Body = body
				defer func() { l.add(-body.n) }()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (l *inflightLimiter) add(n int64) int64 {
	total := l.bytes.Add(n)
	l.metrics.inflightBytes.Set(float64(total))
	return total
}

func (l *inflightLimiter) refuse(w http.ResponseWriter, reason string, limit int64) {
	l.metrics.instanceLimitRejections.WithLabelValues(reason).Inc()
	remotewrite.WriteError(w, &InstanceLimitError{Reason: reason, Limit: limit})
}

// countingBody adds what it reads to the in-flight bytes and fails the read
// once they are over the limit, unless this body is all there is in flight.
type countingBody struct {
	io.ReadCloser
	l *inflightLimiter
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if total := b.l.add(int64(n)); total > b.l.limits.MaxInflightPushRequestBytes && total != b.n {
		b.l.metrics.instanceLimitRejections.WithLabelValues(ReasonMaxInflightPushRequestBytes).Inc()
		return n, &InstanceLimitError{Reason: ReasonMaxInflightPushRequestBytes, Limit: b.l.limits.MaxInflightPushRequestBytes}
	}
	return n, err
}

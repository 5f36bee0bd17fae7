package distributor

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang/snappy"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// encodedPush is an RW1 body of one series.
func encodedPush(t testing.TB) []byte {
	t.Helper()
	req := ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{series("up", testNow.UnixMilli(), "job", "a")}}
	data, err := req.Marshal()
	require.NoError(t, err)
	return snappy.Encode(nil, data)
}

// sendRaw pushes body; chunked hides its length, as a streaming sender does.
func sendRaw(env *testEnv, body []byte, chunked bool) *httptest.ResponseRecorder {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // not a type NewRequest can size
	}
	hr := httptest.NewRequest(http.MethodPost, "/api/v1/push", rd)
	if chunked {
		hr.ContentLength = -1
	}
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set(tenant.Header, "tenant-1")
	w := httptest.NewRecorder()
	env.handler.ServeHTTP(w, hr)
	return w
}

func TestInstanceLimits(t *testing.T) {
	body := encodedPush(t)
	size := int64(len(body))
	tests := map[string]struct {
		limits  InstanceLimits
		chunked bool
		// wantSecond is the status of a push sent while another is in flight.
		wantSecond int
		reason     string
	}{
		"requests under the limit": {limits: InstanceLimits{MaxInflightPushRequests: 2}, wantSecond: http.StatusNoContent},
		"requests over the limit": {
			limits: InstanceLimits{MaxInflightPushRequests: 1}, wantSecond: http.StatusServiceUnavailable,
			reason: ReasonMaxInflightPushRequests,
		},
		"bytes under the limit": {limits: InstanceLimits{MaxInflightPushRequestBytes: 2 * size}, wantSecond: http.StatusNoContent},
		"bytes over the limit": {
			limits: InstanceLimits{MaxInflightPushRequestBytes: 2*size - 1}, wantSecond: http.StatusServiceUnavailable,
			reason: ReasonMaxInflightPushRequestBytes,
		},
		"bytes of a body of unknown length": {
			limits: InstanceLimits{MaxInflightPushRequestBytes: 2*size - 1}, chunked: true, wantSecond: http.StatusServiceUnavailable,
			reason: ReasonMaxInflightPushRequestBytes,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t, 1, func(c *Config, _ *limits.Limits) { c.InstanceLimits = tc.limits })
			ing := env.ingesters[0]
			ing.block, ing.entered = make(chan struct{}), make(chan struct{}, 2)
			first := make(chan int)
			go func() { first <- sendRaw(env, body, tc.chunked).Code }()
			<-ing.entered // the first push is in flight

			done := make(chan *httptest.ResponseRecorder)
			go func() { done <- sendRaw(env, body, tc.chunked) }()
			var w *httptest.ResponseRecorder
			if tc.wantSecond == http.StatusNoContent {
				<-ing.entered // admitted alongside the first
				close(ing.block)
				w = <-done
			} else {
				w = <-done // refused while the first is blocked
				close(ing.block)
			}
			require.Equal(t, tc.wantSecond, w.Code, w.Body.String())
			require.Equal(t, http.StatusNoContent, <-first)
			if tc.reason != "" {
				require.Contains(t, w.Body.String(), "-distributor.instance-limits."+kebab(tc.reason))
				require.InDelta(t, 1.0, testutil.ToFloat64(env.d.metrics.instanceLimitRejections.WithLabelValues(tc.reason)), 0)
			}
			require.InDelta(t, 0.0, testutil.ToFloat64(env.d.metrics.inflightBytes), 0, "every admitted byte is released")
		})
	}
}

func TestInstanceLimitAdmitsALoneLargeRequest(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			env := newTestEnv(t, 1, func(c *Config, _ *limits.Limits) { c.InstanceLimits.MaxInflightPushRequestBytes = 1 })
			w := sendRaw(env, encodedPush(t), chunked)
			require.Equal(t, http.StatusNoContent, w.Code, w.Body.String())
		})
	}
}

type hookFunc func(context.Context, tenant.ID, *ingesterpb.PushRequest) error

func (f hookFunc) BeforePush(ctx context.Context, t tenant.ID, req *ingesterpb.PushRequest) error {
	return f(ctx, t, req)
}

type reasonErr struct{ error }

func (e reasonErr) Unwrap() error { return e.error }

func (reasonErr) Reason() string { return "test_reason" }

func TestHookErrors(t *testing.T) {
	tests := map[string]struct {
		err          error
		wantCode     int
		wantDiscards float64
	}{
		"a discard with a reason is counted": {
			err: reasonErr{fmt.Errorf("slow down: %w", remotewrite.ErrRateLimited)}, wantCode: http.StatusTooManyRequests, wantDiscards: 2,
		},
		"deduplicated is 202 and no discard": {
			err: fmt.Errorf("replica b: %w", remotewrite.ErrDeduplicated), wantCode: http.StatusAccepted,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hook := hookFunc(func(context.Context, tenant.ID, *ingesterpb.PushRequest) error { return tc.err })
			env := newTestEnvHooks(t, 1, nil, hook)
			s := series("up", testNow.UnixMilli(), "job", "a")
			s.Exemplars = []ingesterpb.Exemplar{{Labels: []ingesterpb.LabelPair{{Name: "trace_id", Value: "x"}}, TimestampMs: testNow.UnixMilli()}}
			w := env.push(t, &ingesterpb.PushRequest{Timeseries: []ingesterpb.TimeSeries{s}})
			require.Equal(t, tc.wantCode, w.Code, w.Body.String())
			require.Equal(t, "0", w.Header().Get(remotewrite.HeaderSamplesWritten), "remote-write 1.0 answers carry the counts too")
			require.InDelta(t, tc.wantDiscards, testutil.ToFloat64(env.d.metrics.discardedSamples.WithLabelValues("tenant-1", "test_reason")), 0)
			require.Empty(t, env.ingesters[0].series())
		})
	}
}

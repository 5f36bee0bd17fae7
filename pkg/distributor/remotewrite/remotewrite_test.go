package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestParseContentType(t *testing.T) {
	tests := map[string]struct {
		ct      string
		want    Protocol
		wantErr bool
	}{
		"empty is 1.0":             {ct: "", want: V1},
		"bare protobuf is 1.0":     {ct: "application/x-protobuf", want: V1},
		"explicit 1.0":             {ct: "application/x-protobuf;proto=prometheus.WriteRequest", want: V1},
		"2.0 with spaces":          {ct: "application/x-protobuf; proto=io.prometheus.write.v2.Request", want: V2},
		"unknown proto":            {ct: "application/x-protobuf;proto=x.Y", wantErr: true},
		"other media type":         {ct: "text/plain", wantErr: true},
		"unparseable content type": {ct: "application/x-protobuf;;=", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseContentType(tc.ct)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrUnsupportedMediaType)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	tests := map[string]struct {
		err  error
		want int
	}{
		"success":         {err: nil, want: http.StatusNoContent},
		"media type":      {err: fmt.Errorf("x: %w", ErrUnsupportedMediaType), want: http.StatusUnsupportedMediaType},
		"too large":       {err: fmt.Errorf("x: %w", ErrTooLarge), want: http.StatusRequestEntityTooLarge},
		"malformed":       {err: fmt.Errorf("x: %w", ErrMalformed), want: http.StatusBadRequest},
		"invalid":         {err: fmt.Errorf("x: %w", ErrInvalid), want: http.StatusBadRequest},
		"rate limited":    {err: ErrRateLimited, want: http.StatusTooManyRequests},
		"deduplicated":    {err: fmt.Errorf("x: %w", ErrDeduplicated), want: http.StatusAccepted},
		"no tenant":       {err: tenant.ErrMissing, want: http.StatusUnauthorized},
		"no quorum":       {err: fmt.Errorf("x: %w", ErrUnavailable), want: http.StatusServiceUnavailable},
		"client gone":     {err: context.Canceled, want: http.StatusServiceUnavailable},
		"anything else":   {err: errors.New("boom"), want: http.StatusInternalServerError},
		"unwrap priority": {err: errors.Join(ErrInvalid, ErrUnavailable), want: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, HTTPStatus(tc.err))
		})
	}
}

type retryErr struct {
	class error
	after time.Duration
}

func (e retryErr) Error() string             { return "retry" }
func (e retryErr) Unwrap() error             { return e.class }
func (e retryErr) RetryAfter() time.Duration { return e.after }

func TestWriteErrorRetryAfter(t *testing.T) {
	tests := map[string]struct {
		err  error
		want string
	}{
		"rounded up":              {err: retryErr{ErrRateLimited, 1500 * time.Millisecond}, want: "2"},
		"at least one second":     {err: retryErr{ErrRateLimited, 0}, want: "1"},
		"on 503 too":              {err: fmt.Errorf("x: %w", retryErr{ErrUnavailable, 3 * time.Second}), want: "3"},
		"not on 400":              {err: retryErr{ErrInvalid, time.Second}, want: ""},
		"none without RetryAfter": {err: ErrRateLimited, want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tc.err)
			require.Equal(t, HTTPStatus(tc.err), rec.Code)
			require.Equal(t, tc.want, rec.Header().Get("Retry-After"))
		})
	}
}

func TestRequestReferences(t *testing.T) {
	p := NewPool(1 << 20)
	r := p.Get()
	r.Ref()
	r.Unref()
	r.Unref()
	require.Panics(t, r.Unref, "a reference dropped twice is a programmer error")
}

package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

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

func TestRequestReferences(t *testing.T) {
	p := NewPool(1 << 20)
	r := p.Get()
	r.Ref()
	r.Unref()
	r.Unref()
	require.Panics(t, r.Unref, "a reference dropped twice is a programmer error")
}

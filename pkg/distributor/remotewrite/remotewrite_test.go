package remotewrite

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
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

// allocated returns the bytes f allocates (cumulative, freed or not).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A 9-byte body whose snappy header claims 100 MiB, under a 100 MiB limit:
// refused as malformed before the decoded buffer is allocated (it used to
// allocate and zero 100 MiB, then fail).
func TestReadBodyRefusesAnImpossibleSnappyClaimBeforeAllocating(t *testing.T) {
	body := append(binary.AppendUvarint(nil, 100<<20), 0x00, 0x00, 0x00, 0x00, 0x00)
	require.Len(t, body, 9)
	const maxSize = 100 << 20
	var err error
	n := allocated(func() {
		hr := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(body))
		r := NewPool(maxSize).Get()
		_, err = r.ReadBody(httptest.NewRecorder(), hr, maxSize)
	})
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "snappy header claims 104857600 decoded bytes, but 9 compressed bytes decode to at most 192")
	require.Less(t, n, uint64(1<<20), "allocated %d bytes", n)
}

// Every real snappy block decodes within MaxSnappyDecodedLen of its length,
// the most compressible ones (long runs) included.
func TestMaxSnappyDecodedLenBoundsRealBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 4))
	for _, size := range []int{0, 1, 5, 64, 65, 100, 1000, 4096, 65536, 1 << 20} {
		for _, fill := range []string{"zeros", "random", "repeated word"} {
			data := make([]byte, size)
			for i := range data {
				switch fill {
				case "random":
					data[i] = byte(r.IntN(256))
				case "repeated word":
					data[i] = "abcdefg"[i%7]
				}
			}
			enc := snappy.Encode(nil, data)
			require.LessOrEqual(t, size, MaxSnappyDecodedLen(len(enc)), "%s of %d bytes, %d compressed", fill, size, len(enc))
			hr := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(enc))
			req := NewPool(1 << 20).Get()
			got, err := req.ReadBody(httptest.NewRecorder(), hr, 2<<20)
			require.NoError(t, err)
			require.True(t, bytes.Equal(data, got))
		}
	}
}

// A request whose decoded series hold more than the pool keeps is not
// reused: its slices go to the garbage collector (they stayed in the pool).
func TestPoolDropsOversizedDecodedRequests(t *testing.T) {
	p := NewPool(1 << 20)
	for range 20 { // sync.Pool may drop a Put at random under -race
		r := p.Get()
		r.Push.Timeseries = make([]ingesterpb.TimeSeries, 100_000)
		r.Unref()
		again := p.Get()
		require.Zero(t, cap(again.Push.Timeseries), "an oversized request was pooled")
		again.Push.Timeseries = make([]ingesterpb.TimeSeries, 10)
		again.Unref()
	}
	small := p.Get()
	require.LessOrEqual(t, cap(small.Push.Timeseries), 10)
	small.Unref()
}

// FuzzReadBody: no input panics, and the snappy-expansion bound never
// refuses a block snappy itself decodes within the size limit.
func FuzzReadBody(f *testing.F) {
	f.Add(snappy.Encode(nil, make([]byte, 5000)))
	f.Add(snappy.Encode(nil, []byte("abcabcabcabcabcabcabcabc")))
	f.Add(append(binary.AppendUvarint(nil, 100<<20), 0, 0, 0, 0))
	f.Add([]byte{0x05, 0x00})
	const maxSize = 1 << 20
	f.Fuzz(func(t *testing.T, body []byte) {
		hr := httptest.NewRequest(http.MethodPost, "/api/v1/push", bytes.NewReader(body))
		r := NewPool(maxSize).Get()
		got, err := r.ReadBody(httptest.NewRecorder(), hr, maxSize)
		if n, lerr := snappy.DecodedLen(body); lerr == nil && n <= maxSize {
			if want, derr := snappy.Decode(nil, body); derr == nil {
				require.NoError(t, err)
				require.True(t, bytes.Equal(want, got))
				return
			}
		}
		require.Error(t, err)
	})
}

package otlp

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
)

// Encoding is the wire encoding of an OTLP request, and of its answer.
type Encoding int

// The encodings of OTLP/HTTP.
const (
	Protobuf Encoding = iota // application/x-protobuf
	JSON                     // application/json
)

// Content types of OTLP/HTTP.
const (
	ContentTypeProtobuf = "application/x-protobuf"
	ContentTypeJSON     = "application/json"
)

// ContentType returns e's media type.
func (e Encoding) ContentType() string {
	if e == JSON {
		return ContentTypeJSON
	}
	return ContentTypeProtobuf
}

// ParseContentType says which encoding a Content-Type names; anything but
// protobuf or JSON is remotewrite.ErrUnsupportedMediaType (415).
func ParseContentType(ct string) (Encoding, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return Protobuf, fmt.Errorf("%w: content type %q: %w; want %s or %s", remotewrite.ErrUnsupportedMediaType, ct, err, ContentTypeProtobuf, ContentTypeJSON)
	}
	switch mt {
	case ContentTypeProtobuf:
		return Protobuf, nil
	case ContentTypeJSON:
		return JSON, nil
	}
	return Protobuf, fmt.Errorf("%w: content type %q, want %s or %s", remotewrite.ErrUnsupportedMediaType, mt, ContentTypeProtobuf, ContentTypeJSON)
}

// readBody reads hr's body, gunzipped when its Content-Encoding is gzip,
// appending to buf. Both the body as sent and the decompressed bytes may be
// at most maxSize bytes; a longer one is remotewrite.ErrTooLarge (413),
// found after reading at most maxSize+1 bytes of either.
func readBody(w http.ResponseWriter, hr *http.Request, maxSize int, buf []byte) ([]byte, error) {
	if hr.ContentLength > int64(maxSize) {
		return buf, fmt.Errorf("%w: body of %d bytes, limit %d (-distributor.max-recv-msg-size)", remotewrite.ErrTooLarge, hr.ContentLength, maxSize)
	}
	body := http.MaxBytesReader(w, hr.Body, int64(maxSize))
	var gz bool
	switch enc := strings.TrimSpace(hr.Header.Get("Content-Encoding")); {
	case enc == "", strings.EqualFold(enc, "identity"):
	case strings.EqualFold(enc, "gzip"):
		gz = true
	default:
		return buf, fmt.Errorf("%w: content encoding %q, only gzip or none is accepted", remotewrite.ErrUnsupportedMediaType, enc)
	}
	if !gz {
		out, err := readLimited(buf[:0], body, maxSize)
		return out, readError(err, false, "body", maxSize)
	}
	g := getGunzipper()
	defer putGunzipper(g)
	g.br.Reset(body)
	if err := g.zr.Reset(g.br); err != nil {
		return buf, readError(err, true, "body", maxSize)
	}
	out, err := readLimited(buf[:0], &g.zr, maxSize)
	return out, readError(err, true, "decompressed body", maxSize)
}

// gunzipper is a gzip reader with its buffered input, reused across
// requests: a new one costs ~45 KB (the inflater's window and tables, and
// the 4 KB buffer gzip.Reader puts in front of a reader without ReadByte,
// as an HTTP body is).
type gunzipper struct {
	br *bufio.Reader
	zr gzip.Reader
}

var gunzippers sync.Pool // *gunzipper

func getGunzipper() *gunzipper {
	if g, ok := gunzippers.Get().(*gunzipper); ok {
		return g
	}
	return &gunzipper{br: bufio.NewReader(nil)}
}

// putGunzipper returns g to the pool, without the request's body: its
// reader then holds only its own buffered input, emptied.
func putGunzipper(g *gunzipper) {
	g.br.Reset(nil)
	gunzippers.Put(g)
}

// errOverLimit is readLimited's answer to a reader with more than max
// bytes.
var errOverLimit = errors.New("over the limit")

// readLimited appends at most limit bytes from rd to dst; one more is
// errOverLimit.
func readLimited(dst []byte, rd io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := dst[len(dst):cap(dst)]
		if over := len(dst) + len(room) - (limit + 1); over > 0 {
			room = room[:len(room)-over]
		}
		n, err := rd.Read(room)
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst, errOverLimit
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// readError classifies an error reading a body: over a size limit is 413
// naming what was over; in a gzip stream anything else is a malformed body
// (400); otherwise the connection failed (503).
func readError(err error, gz bool, what string, limit int) error {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errOverLimit):
		return fmt.Errorf("%w: %s over %d bytes (-distributor.max-recv-msg-size)", remotewrite.ErrTooLarge, what, limit)
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: body over %d bytes (-distributor.max-recv-msg-size)", remotewrite.ErrTooLarge, limit)
	case gz:
		return fmt.Errorf("%w: gzip: %w", remotewrite.ErrMalformed, err)
	}
	return fmt.Errorf("%w: reading body: %w", remotewrite.ErrUnavailable, err)
}

// Decode decodes an OTLP ExportMetricsServiceRequest in encoding enc. A
// body that is not one, or nests attribute values more than MaxValueDepth
// deep, is remotewrite.ErrMalformed (400).
func Decode(body []byte, enc Encoding) (pmetricotlp.ExportRequest, error) {
	req := pmetricotlp.NewExportRequest()
	var err error
	if enc == JSON {
		if err := checkJSONDepth(body); err != nil {
			return req, err
		}
		err = req.UnmarshalJSON(body)
	} else {
		if err := checkDepth(body); err != nil {
			return req, err
		}
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		return req, fmt.Errorf("%w: OTLP %s body: %w", remotewrite.ErrMalformed, enc, err)
	}
	return req, nil
}

// String names the encoding.
func (e Encoding) String() string {
	if e == JSON {
		return "JSON"
	}
	return "protobuf"
}

package remotewrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/golang/snappy"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// Pusher takes a decoded request. The distributor implements it.
type Pusher interface {
	// Push validates and writes req for the tenant in ctx and says what was
	// written. It may keep req beyond its return by taking references
	// ([Request.Ref]); the caller drops its own reference after Push
	// returns. Safe for concurrent use.
	Push(ctx context.Context, req *Request) (Stats, error)
}

// Stats counts what a push wrote; remote-write 2.0 reports it in response
// headers.
type Stats struct {
	Samples, Histograms, Exemplars int
}

// Response headers of remote-write 2.0.
const (
	HeaderSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	HeaderHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	HeaderExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// SetHeaders sets the remote-write 2.0 written-counts headers on w.
func (s Stats) SetHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderSamplesWritten, strconv.Itoa(s.Samples))
	h.Set(HeaderHistogramsWritten, strconv.Itoa(s.Histograms))
	h.Set(HeaderExemplarsWritten, strconv.Itoa(s.Exemplars))
}

// Request is one push: the decoded series and the buffers they were decoded
// from. Strings in Push alias the request's body buffer, so the request is
// reference counted: whoever reads Push after handing the request on (a
// detached ingester push still marshalling it) holds a reference, and the
// buffers go back to the pool only when the last reference is dropped.
//
// The zero value is a usable request without a pool (e.g. built by the
// ruler); Ref and Unref are then no-ops on its memory.
type Request struct {
	// Push is the decoded request. It must not be modified once references
	// have been handed out, except by the holder of the only reference.
	Push ingesterpb.PushRequest
	// Protocol is the remote-write version the request was decoded from,
	// set by the handler; 0 for a request built in process (the ruler).
	// Validation differs by version: remote-write 2.0 requires every
	// series to carry a sample or a histogram.
	Protocol Protocol
	// ASCIILabels says every string the request's series labels were made
	// of is ASCII, checked by the handler that built them (remote-write
	// 1.0's and 2.0's while decoding, OTLP's from the attributes its
	// translator turns into labels): validation then
	// skips its UTF-8 checks of label names and values, and checks the
	// rest (lengths, counts, order, empty names) as usual.
	ASCIILabels bool
	// SeriesLabels, when not empty, has for each series of Push (same
	// index) the labels its pairs were built from in this process (by the
	// OTLP handler): see [LocalLabels]. Whoever reorders or removes
	// series of Push reorders or removes these alike, or empties them.
	SeriesLabels []LocalLabels

	compressed []byte
	body       []byte
	refs       atomic.Int32
	pool       *Pool
}

// Ref adds a reference.
func (r *Request) Ref() { r.refs.Add(1) }

// Unref drops a reference; the last one returns the request to its pool.
// Nothing may read the request after dropping its reference.
func (r *Request) Unref() {
	n := r.refs.Add(-1)
	if n < 0 {
		panic("remotewrite: Request.Unref without a reference") // programmer error
	}
	if n == 0 && r.pool != nil {
		r.pool.put(r)
	}
}

// Pool recycles requests and their buffers. Safe for concurrent use.
type Pool struct {
	p sync.Pool
	// maxKeep is the largest buffer kept for reuse; a rare huge request
	// does not pin its memory forever.
	maxKeep int
}

// NewPool returns a pool. Buffers larger than maxKeep bytes are dropped
// rather than reused.
func NewPool(maxKeep int) *Pool {
	return &Pool{maxKeep: maxKeep}
}

// Get returns a request holding one reference.
func (p *Pool) Get() *Request {
	r, _ := p.p.Get().(*Request)
	if r == nil {
		r = &Request{pool: p}
	}
	r.refs.Store(1)
	r.Protocol = 0
	r.ASCIILabels = false
	return r
}

func (p *Pool) put(r *Request) {
	// Drop the references to the labels, which may be large and are not
	// reused.
	clear(r.SeriesLabels[:cap(r.SeriesLabels)])
	r.SeriesLabels = r.SeriesLabels[:0]
	if cap(r.body) > p.maxKeep || cap(r.compressed) > p.maxKeep || r.decodedCap() > p.maxKeep {
		return
	}
	p.p.Put(r)
}

// Sizes of the decoded types, for decodedCap.
var (
	sizeSeries    = int(unsafe.Sizeof(ingesterpb.TimeSeries{}))
	sizeLabel     = int(unsafe.Sizeof(ingesterpb.LabelPair{}))
	sizeSample    = int(unsafe.Sizeof(ingesterpb.Sample{}))
	sizeExemplar  = int(unsafe.Sizeof(ingesterpb.Exemplar{}))
	sizeHistogram = int(unsafe.Sizeof(ingesterpb.Histogram{}))
	sizeMetadata  = int(unsafe.Sizeof(ingesterpb.MetricMetadata{}))
	sizeLocal     = int(unsafe.Sizeof(LocalLabels{}))
)

// decodedCap estimates the bytes the decoded request's slices hold,
// spare capacity included (what a pooled request keeps alive): the
// series, their labels, samples, exemplars and histograms, and metadata.
// Histograms' buckets are counted by their slices' capacity too.
func (r *Request) decodedCap() int {
	ts := r.Push.Timeseries[:cap(r.Push.Timeseries)]
	n := len(ts)*sizeSeries + cap(r.Push.Metadata)*sizeMetadata + cap(r.SeriesLabels)*sizeLocal
	for i := range ts {
		s := &ts[i]
		n += cap(s.Labels)*sizeLabel + cap(s.Samples)*sizeSample + cap(s.Exemplars)*sizeExemplar
		for _, e := range s.Exemplars[:cap(s.Exemplars)] {
			n += cap(e.Labels) * sizeLabel
		}
		hs := s.Histograms[:cap(s.Histograms)]
		for j := range hs {
			h := &hs[j]
			n += sizeHistogram + 8*(cap(h.PositiveSpans)+cap(h.NegativeSpans)+cap(h.PositiveDeltas)+
				cap(h.NegativeDeltas)+cap(h.PositiveCounts)+cap(h.NegativeCounts)+cap(h.CustomValues))
		}
	}
	return n
}

// Body returns the decompressed body read by ReadBody.
func (r *Request) Body() []byte { return r.body }

// ReadBody reads hr's snappy-compressed body into the request's buffers and
// returns the decompressed bytes, which stay valid until the last Unref.
// The decoded size may be at most maxSize bytes; snappy's decoded length is
// checked before any buffer for it is allocated. The compressed body is read
// through http.MaxBytesReader with the largest size snappy may encode
// maxSize bytes to.
func (r *Request) ReadBody(w http.ResponseWriter, hr *http.Request, maxSize int) ([]byte, error) {
	switch enc := strings.TrimSpace(hr.Header.Get("Content-Encoding")); {
	case enc == "", strings.EqualFold(enc, "snappy"):
		// Remote-write senders always compress; Prometheus's own receiver
		// also treats a missing encoding as snappy.
	default:
		return nil, fmt.Errorf("%w: content encoding %q, only snappy is accepted", ErrUnsupportedMediaType, enc)
	}
	maxCompressed := snappy.MaxEncodedLen(maxSize)
	if maxCompressed < 0 {
		maxCompressed = maxSize
	}
	if hr.ContentLength > int64(maxCompressed) {
		return nil, fmt.Errorf("%w: compressed body of %d bytes, limit %d (-distributor.max-recv-msg-size)", ErrTooLarge, hr.ContentLength, maxCompressed)
	}
	body := http.MaxBytesReader(w, hr.Body, int64(maxCompressed))
	var err error
	r.compressed, err = readAll(r.compressed[:0], body, hr.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, fmt.Errorf("%w: compressed body over %d bytes (-distributor.max-recv-msg-size)", ErrTooLarge, maxCompressed)
		}
		return nil, fmt.Errorf("%w: reading body: %w", ErrUnavailable, err)
	}
	n, err := snappy.DecodedLen(r.compressed)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %w", ErrMalformed, err)
	}
	if limit := MaxSnappyDecodedLen(len(r.compressed)); n > limit {
		// Checked before the decoded buffer is allocated: a 9-byte body
		// claiming 100 MiB must not cost 100 MiB.
		return nil, fmt.Errorf("%w: snappy header claims %d decoded bytes, but %d compressed bytes decode to at most %d", ErrMalformed, n, len(r.compressed), limit)
	}
	if n > maxSize {
		return nil, fmt.Errorf("%w: decoded body of %d bytes, limit %d (-distributor.max-recv-msg-size)", ErrTooLarge, n, maxSize)
	}
	if cap(r.body) < n {
		r.body = make([]byte, n)
	}
	out, err := snappy.Decode(r.body[:cap(r.body)], r.compressed)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %w", ErrMalformed, err)
	}
	r.body = out
	return out, nil
}

// MaxSnappyDecodedLen is the most bytes a snappy block of compressedLen
// bytes can decode to. Every element of a block costs at least 3 bytes per
// 64 it produces (a 2-byte-offset copy of 64 bytes; a 1-byte-offset copy
// makes 11 from 2, a literal less than 1 per byte), so the payload after the
// length header expands at most 64/3 times (~21x). The header, a varint of at
// most 5 bytes, is counted as payload: the bound stays an upper bound.
func MaxSnappyDecodedLen(compressedLen int) int {
	if compressedLen <= 0 {
		return 0
	}
	return compressedLen/3*64 + compressedLen%3*11
}

// readAll appends everything from rd to dst, sizing dst once when the length
// is known.
func readAll(dst []byte, rd io.Reader, size int64) ([]byte, error) {
	if size > 0 && int64(cap(dst)) < size+1 {
		dst = make([]byte, 0, size+1) // +1 so the final Read sees EOF without growing
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := rd.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

package queryrange

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// Request is one Prometheus query or range query, in milliseconds. An
// instant query has Start == End == its time and Step 0.
type Request struct {
	// Path is the request's URL path (…/api/v1/query or …/query_range).
	Path string
	// Query is the PromQL expression.
	Query string
	// Start, End and Step are in milliseconds.
	Start, End, Step int64
	// Timeout is the timeout parameter, passed on unchanged ("" for none).
	Timeout string
	// Header is the original request's header, passed on to every
	// sub-request.
	Header http.Header
	// NoStore is set when the client sent Cache-Control: no-store.
	NoStore bool

	url  *url.URL // the original URL without its query, nil in tests
	host string
}

// IsRange reports whether r is a range query.
func (r *Request) IsRange() bool { return r.Step > 0 }

// WithRange returns a copy of r for [start, end].
func (r *Request) WithRange(start, end int64) *Request {
	c := *r
	c.Start, c.End = start, end
	return &c
}

// WithQuery returns a copy of r with another expression.
func (r *Request) WithQuery(q string) *Request {
	c := *r
	c.Query = q
	return &c
}

// maxFormBytes bounds a request body read to parse a POST form, as
// net/http's ParseForm does (10 MiB).
const maxFormBytes = 10 << 20

// isQueryPath reports whether path is an instant or range query and which.
func isQueryPath(path string) (isQuery, isRange bool) {
	switch {
	case strings.HasSuffix(path, "/api/v1/query_range"):
		return true, true
	case strings.HasSuffix(path, "/api/v1/query"):
		return true, false
	}
	return false, false
}

// knownParams are the parameters the middlewares understand. A request with
// any other (lookback_delta, limit, stats, ...) goes to the querier
// unchanged: splitting, sharding or caching it could change its answer.
var knownParams = map[string]bool{"query": true, "start": true, "end": true, "step": true, "time": true, "timeout": true}

// parseRequest reads a query or range query from hr. ok is false when the
// request is one the middlewares must not touch (another path, unknown
// parameters, times that do not parse: the querier answers those itself).
// hr's body is consumed and replaced by a copy, so hr can still be sent on.
func parseRequest(hr *http.Request, now time.Time) (req *Request, ok bool, err error) {
	isQuery, isRange := isQueryPath(hr.URL.Path)
	if !isQuery || (hr.Method != http.MethodGet && hr.Method != http.MethodPost) {
		return nil, false, nil
	}
	form := hr.URL.Query()
	if hr.Method == http.MethodPost && hr.Body != nil {
		body, err := io.ReadAll(io.LimitReader(hr.Body, maxFormBytes+1))
		if err != nil {
			return nil, false, fmt.Errorf("reading the request body: %w", err)
		}
		if len(body) > maxFormBytes {
			return nil, false, fmt.Errorf("request body larger than %d bytes", maxFormBytes)
		}
		hr.Body = io.NopCloser(strings.NewReader(string(body)))
		if strings.HasPrefix(hr.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			bodyForm, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, false, nil
			}
			// POST values come first, as in http.Request.FormValue.
			for k, v := range form {
				bodyForm[k] = append(bodyForm[k], v...)
			}
			form = bodyForm
		}
	}
	for k := range form {
		if !knownParams[k] {
			return nil, false, nil
		}
	}
	r := &Request{
		Path:    hr.URL.Path,
		Query:   form.Get("query"),
		Timeout: form.Get("timeout"),
		Header:  hr.Header.Clone(),
		NoStore: hasNoStore(hr.Header),
		host:    hr.Host,
	}
	u := *hr.URL
	u.RawQuery = ""
	r.url = &u
	if r.Query == "" {
		return nil, false, nil
	}
	if isRange {
		var ok1, ok2, ok3 bool
		r.Start, ok1 = parseTimeMillis(form.Get("start"))
		r.End, ok2 = parseTimeMillis(form.Get("end"))
		r.Step, ok3 = parseStepMillis(form.Get("step"))
		if !ok1 || !ok2 || !ok3 || r.End < r.Start || r.Step <= 0 || (r.End-r.Start)/r.Step > 11000 {
			// The querier answers with Prometheus's own error.
			return nil, false, nil
		}
		return r, true, nil
	}
	t := now.UnixMilli()
	if s := form.Get("time"); s != "" {
		var ok bool
		if t, ok = parseTimeMillis(s); !ok {
			return nil, false, nil
		}
	}
	r.Start, r.End = t, t
	return r, true, nil
}

func hasNoStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}

// parseTimeMillis parses a time as Prometheus does (Unix seconds or
// RFC 3339) into milliseconds.
func parseTimeMillis(s string) (int64, bool) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1<<53/1000 {
			return 0, false
		}
		sec, frac := math.Modf(f)
		return int64(sec)*1000 + int64(math.Round(frac*1000)), true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, false
	}
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		return 0, false
	}
	return t.UnixMilli(), true
}

// parseStepMillis parses a step as Prometheus does (seconds or a duration);
// ok is false for a step that is not a whole number of milliseconds.
func parseStepMillis(s string) (int64, bool) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		ns := f * float64(time.Second)
		if math.IsNaN(ns) || ns >= float64(math.MaxInt64) || ns < float64(math.MinInt64) {
			return 0, false
		}
		d = time.Duration(ns)
	} else {
		md, err := model.ParseDuration(s)
		if err != nil {
			return 0, false
		}
		d = time.Duration(md)
	}
	if d%time.Millisecond != 0 {
		return 0, false
	}
	return d.Milliseconds(), true
}

// formatMillis writes milliseconds as Unix seconds with a fraction, which
// Prometheus parses back exactly.
func formatMillis(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}

// acceptQuerier asks a querier for proto/resultpb's binary form; one that
// does not know it answers JSON, which the frontend reads too.
var acceptQuerier = resultpb.ContentType + ", application/json;q=0.5"

// toHTTP builds the HTTP request that sends r to a querier: a POST form, with
// the original headers (authentication, tracing) but no Cache-Control,
// without Accept-Encoding so the response is read uncompressed, and with
// an Accept that prefers the binary form of a result to JSON.
func (r *Request) toHTTP(ctx context.Context) (*http.Request, error) {
	form := url.Values{"query": {r.Query}}
	if r.IsRange() {
		form.Set("start", formatMillis(r.Start))
		form.Set("end", formatMillis(r.End))
		form.Set("step", formatMillis(r.Step))
	} else {
		form.Set("time", formatMillis(r.Start))
	}
	if r.Timeout != "" {
		form.Set("timeout", r.Timeout)
	}
	body := form.Encode()
	target := r.Path
	if r.url != nil {
		u := *r.url
		u.Path = r.Path
		target = u.String()
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building a querier request: %w", err)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	hr.Header = r.Header.Clone()
	if hr.Header == nil {
		hr.Header = http.Header{}
	}
	hr.Header.Del("Cache-Control")
	hr.Header.Del("Accept-Encoding")
	hr.Header.Del("Content-Length")
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hr.Header.Set("Accept", acceptQuerier)
	hr.ContentLength = int64(len(body))
	return hr, nil
}

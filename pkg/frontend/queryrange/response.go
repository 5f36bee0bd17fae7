package queryrange

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/common/model"

	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// Result types of a Prometheus query response.
const (
	typeMatrix = resultpb.TypeMatrix
	typeVector = resultpb.TypeVector
	typeScalar = resultpb.TypeScalar
	typeString = resultpb.TypeString
)

// Response is a successful Prometheus query response: its result and
// annotations, the querier's binary form decoded. Warnings block caching;
// Infos do not. Failures travel as [*UpstreamError].
type Response resultpb.Result

type wireResponse struct {
	Status    string    `json:"status"`
	Data      *wireData `json:"data,omitempty"`
	ErrorType string    `json:"errorType,omitempty"`
	Error     string    `json:"error,omitempty"`
	Warnings  []string  `json:"warnings,omitempty"`
	Infos     []string  `json:"infos,omitempty"`
}

type wireData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// UpstreamError is a response other than 200 from the querier (or one this
// package makes, such as a 400 for a bad request): it is written to the
// client as it is.
type UpstreamError struct {
	Status int
	Header http.Header
	Body   []byte
}

// Error returns the status and the start of the body.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("querier answered %d: %.200s", e.Status, e.Body)
}

// apiError makes a Prometheus JSON error response.
func apiError(status int, errorType, msg string) *UpstreamError {
	body, _ := json.Marshal(wireResponse{Status: "error", ErrorType: errorType, Error: msg})
	return &UpstreamError{Status: status, Header: http.Header{"Content-Type": {"application/json"}}, Body: body}
}

// decodeResponse reads a querier's answer: a [*Response] for 200, an
// [*UpstreamError] otherwise. The body is closed.
func decodeResponse(hr *http.Response, maxBytes int64) (*Response, error) {
	defer hr.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the querier's response: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, apiError(http.StatusUnprocessableEntity, "execution", fmt.Sprintf("a querier response is larger than %d bytes (-frontend.max-response-size-bytes)", maxBytes))
	}
	if hr.StatusCode != http.StatusOK {
		return nil, &UpstreamError{Status: hr.StatusCode, Header: hr.Header.Clone(), Body: body}
	}
	if ct, _, _ := strings.Cut(hr.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) == resultpb.ContentType {
		return decodeBinaryBody(body)
	}
	return decodeResponseBody(body)
}

// decodeBinaryBody reads proto/resultpb's form of a result.
func decodeBinaryBody(body []byte) (*Response, error) {
	res, err := resultpb.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("decoding the querier's response: %w", err)
	}
	return (*Response)(res), nil
}

func decodeResponseBody(body []byte) (*Response, error) {
	var w wireResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("decoding the querier's response: %w", err)
	}
	if w.Status != "success" || w.Data == nil {
		return nil, fmt.Errorf("decoding the querier's response: status %q without data", w.Status)
	}
	r := &Response{ResultType: w.Data.ResultType, Warnings: w.Warnings, Infos: w.Infos}
	var err error
	switch r.ResultType {
	case typeMatrix:
		err = json.Unmarshal(w.Data.Result, &r.Matrix)
	case typeVector:
		err = json.Unmarshal(w.Data.Result, &r.Vector)
	case typeScalar:
		r.Scalar = &model.Scalar{}
		err = json.Unmarshal(w.Data.Result, r.Scalar)
	case typeString:
		r.String = &model.String{}
		err = json.Unmarshal(w.Data.Result, r.String)
	default:
		err = fmt.Errorf("unknown result type %q", r.ResultType)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding the querier's %s result: %w", r.ResultType, err)
	}
	for i, s := range r.Matrix {
		if s == nil {
			return nil, fmt.Errorf("decoding the querier's matrix: series %d is null", i)
		}
	}
	for i, s := range r.Vector {
		if s == nil {
			return nil, fmt.Errorf("decoding the querier's vector: sample %d is null", i)
		}
	}
	return r, nil
}

// mergeMatrices merges range-query responses for adjacent or overlapping
// ranges of one query: series by label set, samples by timestamp (a
// timestamp present in several keeps the first), annotations deduplicated.
// Series come out sorted by labels, as Prometheus sorts a matrix.
func mergeMatrices(rs []*Response) *Response {
	out := &Response{ResultType: typeMatrix}
	byFP := map[model.Fingerprint]*model.SampleStream{}
	for _, r := range rs {
		out.Warnings = appendUnique(out.Warnings, r.Warnings...)
		out.Infos = appendUnique(out.Infos, r.Infos...)
		for _, s := range r.Matrix {
			m := seriesSlot(byFP, s.Metric)
			m.Values = append(m.Values, s.Values...)
			m.Histograms = append(m.Histograms, s.Histograms...)
		}
	}
	out.Matrix = make([]*model.SampleStream, 0, len(byFP))
	for _, s := range byFP {
		s.Values = dedupeFloats(s.Values)
		s.Histograms = dedupeHistograms(s.Histograms)
		out.Matrix = append(out.Matrix, s)
	}
	sortMatrix(out.Matrix)
	return out
}

// seriesSlot returns the merged series of metric, adding it when new.
// Fingerprints that collide take the consecutive values after their own.
func seriesSlot(byFP map[model.Fingerprint]*model.SampleStream, metric model.Metric) *model.SampleStream {
	fp := metric.Fingerprint()
	for {
		m, ok := byFP[fp]
		if !ok {
			m = &model.SampleStream{Metric: metric}
			byFP[fp] = m
			return m
		}
		if m.Metric.Equal(metric) {
			return m
		}
		fp++
	}
}

func sortMatrix(m []*model.SampleStream) {
	sort.Slice(m, func(i, j int) bool { return m[i].Metric.Before(m[j].Metric) })
}

func dedupeFloats(v []model.SamplePair) []model.SamplePair {
	if slices.IsSortedFunc(v, func(a, b model.SamplePair) int { return cmpTime(a.Timestamp, b.Timestamp) }) && noDupTimes(len(v), func(i int) model.Time { return v[i].Timestamp }) {
		return v
	}
	slices.SortStableFunc(v, func(a, b model.SamplePair) int { return cmpTime(a.Timestamp, b.Timestamp) })
	return slices.CompactFunc(v, func(a, b model.SamplePair) bool { return a.Timestamp == b.Timestamp })
}

func dedupeHistograms(v []model.SampleHistogramPair) []model.SampleHistogramPair {
	if slices.IsSortedFunc(v, func(a, b model.SampleHistogramPair) int { return cmpTime(a.Timestamp, b.Timestamp) }) && noDupTimes(len(v), func(i int) model.Time { return v[i].Timestamp }) {
		return v
	}
	slices.SortStableFunc(v, func(a, b model.SampleHistogramPair) int { return cmpTime(a.Timestamp, b.Timestamp) })
	return slices.CompactFunc(v, func(a, b model.SampleHistogramPair) bool { return a.Timestamp == b.Timestamp })
}

func noDupTimes(n int, at func(int) model.Time) bool {
	for i := 1; i < n; i++ {
		if at(i) == at(i-1) {
			return false
		}
	}
	return true
}

func cmpTime(a, b model.Time) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// filterRange returns the part of a matrix response in [start, end]; series
// left without samples are dropped.
func filterRange(r *Response, start, end int64) *Response {
	out := &Response{ResultType: r.ResultType, Warnings: r.Warnings, Infos: r.Infos}
	for _, s := range r.Matrix {
		ns := &model.SampleStream{Metric: s.Metric}
		for _, p := range s.Values {
			if int64(p.Timestamp) >= start && int64(p.Timestamp) <= end {
				ns.Values = append(ns.Values, p)
			}
		}
		for _, p := range s.Histograms {
			if int64(p.Timestamp) >= start && int64(p.Timestamp) <= end {
				ns.Histograms = append(ns.Histograms, p)
			}
		}
		if len(ns.Values)+len(ns.Histograms) > 0 {
			out.Matrix = append(out.Matrix, ns)
		}
	}
	return out
}

func appendUnique(dst []string, src ...string) []string {
	for _, s := range src {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

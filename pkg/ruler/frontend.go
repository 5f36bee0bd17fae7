package ruler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// maxFrontendResponseBytes bounds one rule query's answer from the query
// frontend: a rule's result is written back as series, and a result this
// large would be refused by the series limits anyway.
const maxFrontendResponseBytes = 64 << 20

// FrontendQueryFunc returns, per tenant, a query function that evaluates
// rule expressions through the query frontend's Prometheus API at base
// (e.g. http://frontend:9009/prometheus): an instant query at the
// evaluation time, sent as the tenant. authorize adds the credential the
// frontend accepts (X-Scope-OrgID is always set); client's timeout bounds
// each query.
func FrontendQueryFunc(base string, client *http.Client, authorize func(*http.Request, tenant.ID)) func(tenant.ID) QueryFunc {
	base = strings.TrimSuffix(base, "/")
	return func(t tenant.ID) QueryFunc {
		return func(ctx context.Context, q string, ts time.Time) (promql.Vector, error) {
			form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', 3, 64)}}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/query", strings.NewReader(form.Encode()))
			if err != nil {
				return nil, fmt.Errorf("building the query frontend request: %w", err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tenant.Header, string(t))
			if authorize != nil {
				authorize(req, t)
			}
			resp, err := client.Do(req)
			if err != nil {
				return nil, fmt.Errorf("querying the query frontend: %w", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxFrontendResponseBytes+1))
			if err != nil {
				return nil, fmt.Errorf("reading the query frontend's answer: %w", err)
			}
			if len(body) > maxFrontendResponseBytes {
				return nil, fmt.Errorf("the query frontend's answer exceeds %d bytes", maxFrontendResponseBytes)
			}
			return decodeQueryResponse(resp.StatusCode, body)
		}
	}
}

// queryResponse is Prometheus's /api/v1/query answer.
type queryResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]json.RawMessage
	// Histogram is set instead of Value for a native histogram, which
	// rules over the frontend do not support yet.
	Histogram json.RawMessage `json:"histogram"`
}

func (s *vectorSample) UnmarshalJSON(b []byte) error {
	var raw struct {
		Metric    map[string]string `json:"metric"`
		Value     []json.RawMessage `json:"value"`
		Histogram json.RawMessage   `json:"histogram"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.Metric, s.Histogram = raw.Metric, raw.Histogram
	if raw.Value != nil {
		if len(raw.Value) != 2 {
			return errors.New("a sample's value is not [time, value]")
		}
		s.Value = [2]json.RawMessage{raw.Value[0], raw.Value[1]}
	}
	return nil
}

// decodeQueryResponse turns an instant query's JSON answer into a vector.
func decodeQueryResponse(code int, body []byte) (promql.Vector, error) {
	var r queryResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding the query frontend's answer (HTTP %d): %w", code, err)
	}
	if r.Status != "success" {
		if r.Error == "" {
			r.Error = http.StatusText(code)
		}
		return nil, fmt.Errorf("query frontend: %s: %s", r.ErrorType, r.Error)
	}
	switch r.Data.ResultType {
	case "vector":
		var samples []vectorSample
		if err := json.Unmarshal(r.Data.Result, &samples); err != nil {
			return nil, fmt.Errorf("decoding a vector result: %w", err)
		}
		out := make(promql.Vector, 0, len(samples))
		for _, s := range samples {
			if s.Histogram != nil {
				return nil, errors.New("native histogram results are not supported through the query frontend")
			}
			ts, v, err := decodePoint(s.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, promql.Sample{Metric: labels.FromMap(s.Metric), T: ts, F: v})
		}
		return out, nil
	case "scalar":
		var p [2]json.RawMessage
		if err := json.Unmarshal(r.Data.Result, &p); err != nil {
			return nil, fmt.Errorf("decoding a scalar result: %w", err)
		}
		ts, v, err := decodePoint(p)
		if err != nil {
			return nil, err
		}
		return promql.Vector{{Metric: labels.EmptyLabels(), T: ts, F: v}}, nil
	}
	return nil, fmt.Errorf("rule result is %q, not a vector or scalar", r.Data.ResultType)
}

// decodePoint decodes [1712345678.123, "1.5"].
func decodePoint(p [2]json.RawMessage) (int64, float64, error) {
	var sec float64
	if err := json.Unmarshal(p[0], &sec); err != nil {
		return 0, 0, fmt.Errorf("decoding a sample's time: %w", err)
	}
	var vs string
	if err := json.Unmarshal(p[1], &vs); err != nil {
		return 0, 0, fmt.Errorf("decoding a sample's value: %w", err)
	}
	v, err := strconv.ParseFloat(vs, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("decoding a sample's value %q: %w", vs, err)
	}
	return int64(sec*1000 + 0.5), v, nil
}

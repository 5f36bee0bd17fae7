package ruler

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func TestDecodeQueryResponse(t *testing.T) {
	tests := map[string]struct {
		body string
		want promql.Vector
		err  string
	}{
		"a vector": {
			body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000.5,"2.5"]}]}}`,
			want: promql.Vector{{Metric: labels.FromStrings("job", "a"), T: 1700000000500, F: 2.5}},
		},
		"a scalar": {
			body: `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"NaN"]}}`,
		},
		"an error":        {body: `{"status":"error","errorType":"bad_data","error":"parse error"}`, err: "bad_data: parse error"},
		"a matrix":        {body: `{"status":"success","data":{"resultType":"matrix","result":[]}}`, err: "not a vector or scalar"},
		"not JSON":        {body: `<html>`, err: "decoding"},
		"a bad value":     {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}`, err: "value"},
		"a short point":   {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1]}]}}`, err: "[time, value]"},
		"a histogram":     {body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{}]}]}}`, err: "histogram"},
		"an empty vector": {body: `{"status":"success","data":{"resultType":"vector","result":[]}}`, want: promql.Vector{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeQueryResponse(200, []byte(tc.body))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			if tc.want != nil {
				require.Equal(t, tc.want, got)
			}
		})
	}
}

func FuzzDecodeQueryResponse(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000.5,"2.5"]}]}}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}`))
	f.Fuzz(func(_ *testing.T, b []byte) {
		_, _ = decodeQueryResponse(200, b)
	})
}

func TestFrontendQueryFuncSendsTheTenant(t *testing.T) {
	var gotTenant, gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotTenant, gotQuery = r.Header.Get(tenant.Header), r.FormValue("query")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000,"1"]}]}}`))
	}))
	defer srv.Close()
	qf := FrontendQueryFunc(srv.URL+"/prometheus", srv.Client(), nil)("team-a")
	v, err := qf(context.Background(), "up", time.Unix(1700000000, 0))
	require.NoError(t, err)
	require.Len(t, v, 1)
	require.Equal(t, "team-a", gotTenant)
	require.Equal(t, "up", gotQuery)
}

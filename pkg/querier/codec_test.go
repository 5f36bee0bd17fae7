package querier

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/resultpb"
)

// TestResultCodec: a request whose Accept names proto/resultpb's form gets
// its result in it; one asking for stats, an error, or another endpoint
// gets Prometheus's JSON; a request without that Accept gets JSON.
func TestResultCodec(t *testing.T) {
	c := newCluster(t, 3)
	end := time.Now().Truncate(time.Second)
	pushTestData(t, c, "tenant-a", 2, 1, end)
	base := startAPI(t, c, defaultConfig())
	accept := resultpb.ContentType + ", application/json;q=0.5"
	rangeForm := url.Values{"query": {"sum by (job) (up)"}, "start": {strconv.FormatInt(end.Add(-5*time.Minute).Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"15"}}
	for name, tc := range map[string]struct {
		path, accept string
		form         url.Values
		wantType     string
		wantStatus   int
	}{
		"a range query asking for the binary form":    {path: "/query_range", accept: accept, form: rangeForm, wantType: resultpb.ContentType, wantStatus: http.StatusOK},
		"an instant query asking for the binary form": {path: "/query", accept: accept, form: url.Values{"query": {"up"}, "time": {strconv.FormatInt(end.Unix(), 10)}}, wantType: resultpb.ContentType, wantStatus: http.StatusOK},
		"a range query without Accept":                {path: "/query_range", form: rangeForm, wantType: "application/json", wantStatus: http.StatusOK},
		"a query asking for stats":                    {path: "/query", accept: accept, form: url.Values{"query": {"up"}, "stats": {"all"}}, wantType: "application/json", wantStatus: http.StatusOK},
		"a bad query":                                 {path: "/query", accept: accept, form: url.Values{"query": {"up{"}}, wantType: "application/json", wantStatus: http.StatusBadRequest},
		"another endpoint":                            {path: "/labels", accept: accept, form: url.Values{}, wantType: "application/json", wantStatus: http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, base+"/api/v1"+tc.path, strings.NewReader(tc.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(tenant.Header, "tenant-a")
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.Equal(t, tc.wantStatus, resp.StatusCode, string(body))
			require.Equal(t, tc.wantType, resp.Header.Get("Content-Type"))
			if tc.wantType != resultpb.ContentType {
				return
			}
			res, err := resultpb.Decode(body)
			require.NoError(t, err)
			switch tc.path {
			case "/query_range":
				require.Equal(t, resultpb.TypeMatrix, res.ResultType)
				require.Len(t, res.Matrix, 1)
				require.Equal(t, model.Metric{"job": "api"}, res.Matrix[0].Metric)
				require.Len(t, res.Matrix[0].Values, 21)
				require.Equal(t, model.SampleValue(2), res.Matrix[0].Values[0].Value)
			case "/query":
				require.Equal(t, resultpb.TypeVector, res.ResultType)
				require.Len(t, res.Vector, 2)
			}
		})
	}
}

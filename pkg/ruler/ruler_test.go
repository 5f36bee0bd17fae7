package ruler

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// seriesValues returns every sample of the series matching sel.
func seriesValues(t *testing.T, q storage.Queryable, matchers ...*labels.Matcher) map[string][]float64 {
	t.Helper()
	qr, err := q.Querier(0, time.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, err)
	defer qr.Close()
	ss := qr.Select(context.Background(), true, nil, matchers...)
	out := map[string][]float64{}
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		for it.Next() != 0 {
			_, v := it.At()
			out[s.Labels().String()] = append(out[s.Labels().String()], v)
		}
	}
	require.NoError(t, ss.Err())
	return out
}

func TestRecordingRuleWritesThroughPush(t *testing.T) {
	cfg := testConfig(t)
	h := startRuler(t, cfg, nil, nil, nil)
	app := h.db.Appender(context.Background())
	now := time.Now()
	for i := range 5 {
		_, err := app.Append(0, labels.FromStrings("__name__", "x", "job", "a", "i", string(rune('0'+i))), now.Add(-time.Second).UnixMilli(), float64(i))
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	h.store.set(t, "team-a", "ns", `
groups:
- name: g
  interval: 1s
  rules:
  - record: job:x:sum
    expr: sum by (job) (x)
`)
	h.ruler.Notify("team-a")
	require.Eventually(t, func() bool {
		v := seriesValues(t, h.db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "job:x:sum"))
		return len(v[`{__name__="job:x:sum", job="a"}`]) > 0 && v[`{__name__="job:x:sum", job="a"}`][0] == 10
	}, 10*time.Second, 50*time.Millisecond)

	// The state API shows the group, healthy.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/rules?type=record", nil)
	req = req.WithContext(tenant.WithID(req.Context(), "team-a"))
	h.ruler.StateHandler(nil).ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var res struct {
		Data struct {
			Groups []GroupState `json:"groups"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
	require.Len(t, res.Data.Groups, 1)
	require.Equal(t, "ns", res.Data.Groups[0].File)
	require.Equal(t, "job:x:sum", res.Data.Groups[0].Rules[0].Name)
	require.Equal(t, "ok", res.Data.Groups[0].Rules[0].Health)

	// Another tenant sees nothing.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest(http.MethodGet, "/api/v1/rules", nil)
	req = req.WithContext(tenant.WithID(req.Context(), "team-b"))
	h.ruler.StateHandler(nil).ServeHTTP(rec, req)
	require.JSONEq(t, `{"status":"success","data":{"groups":[]}}`, rec.Body.String())
}

// TestRemovedGroupsGetStaleMarkers deletes a tenant's only group: its
// series get a stale marker (the upstream manager writes it two intervals
// after the group stops), so queries stop returning them at once.
func TestRemovedGroupsGetStaleMarkers(t *testing.T) {
	h := startRuler(t, testConfig(t), nil, nil, nil)
	h.store.set(t, "team-a", "ns", "groups:\n- name: g\n  interval: 1s\n  rules:\n  - record: one\n    expr: vector(1)\n")
	h.ruler.Notify("team-a")
	one := labels.MustNewMatcher(labels.MatchEqual, "__name__", "one")
	require.Eventually(t, func() bool { return len(seriesValues(t, h.db, one)[`{__name__="one"}`]) > 0 }, 10*time.Second, 50*time.Millisecond)
	h.store.set(t, "team-a", "ns", "groups: []\n")
	h.ruler.Notify("team-a")
	require.Eventually(t, func() bool {
		v := seriesValues(t, h.db, one)[`{__name__="one"}`]
		return len(v) > 0 && value.IsStaleNaN(v[len(v)-1])
	}, 10*time.Second, 50*time.Millisecond)
	// The empty manager goes once its stale markers are written.
	require.Eventually(t, func() bool {
		v, _ := h.metric(t, "hearth_ruler_tenants", nil)
		return v == 0
	}, 10*time.Second, 50*time.Millisecond)
}

package ring

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv"
	"github.com/hearthmetrics/hearth/pkg/kv/inmemory"
)

func TestRingHTTP(t *testing.T) {
	client := inmemory.New().Client(Codec())
	d := descOf(inst("alive", Active, "z1", 0, 1, 2), inst("dead<b>", Active, "z2", time.Hour, 3))
	require.NoError(t, client.Update(t.Context(), "test.ring", func(kv.Mergeable) (kv.Mergeable, bool, error) { return d.Clone(), false, nil }))
	r, err := New(testConfig(t), "ingester", client, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	r.now = func() time.Time { return testNow }
	r.setDesc(d)

	do := func(method, accept string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/ring", strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w
	}

	t.Run("HTML", func(t *testing.T) {
		w := do(http.MethodGet, "text/html", nil)
		require.Equal(t, http.StatusOK, w.Code)
		require.Contains(t, w.Header().Get("Content-Type"), "text/html")
		body := w.Body.String()
		require.Contains(t, body, "<h1>ingester ring</h1>")
		require.Contains(t, body, `<td>alive</td><td>ACTIVE</td>`)
		require.Contains(t, body, `<td>dead&lt;b&gt;</td><td>ACTIVE (unhealthy)</td>`, "escaped, and marked unhealthy")
		require.Contains(t, body, `name="forget" value="alive"`)
		require.Contains(t, body, "3600.0s ago")
	})

	t.Run("JSON", func(t *testing.T) {
		w := do(http.MethodGet, "application/json", nil)
		require.Equal(t, http.StatusOK, w.Code)
		var s Status
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &s))
		require.Equal(t, "ingester", s.Name)
		require.Equal(t, 3, s.ReplicationFactor)
		require.Len(t, s.Instances, 2)
		require.Equal(t, InstanceStatus{
			ID: "alive", State: "ACTIVE", Healthy: true, Addr: "alive:9095", Zone: "z1",
			Heartbeat: testNow.UTC(), Tokens: 2, Ownership: s.Instances[0].Ownership,
		}, s.Instances[0])
		require.False(t, s.Instances[1].Healthy)
		require.InDelta(t, 100, s.Instances[0].Ownership+s.Instances[1].Ownership, 0.001)
	})

	t.Run("forget", func(t *testing.T) {
		require.Equal(t, http.StatusBadRequest, do(http.MethodPost, "", url.Values{}).Code)
		require.Equal(t, http.StatusNotFound, do(http.MethodPost, "", url.Values{"forget": {"nobody"}}).Code)
		require.Equal(t, http.StatusMethodNotAllowed, do(http.MethodPut, "", nil).Code)

		w := do(http.MethodPost, "", url.Values{"forget": {"dead<b>"}})
		require.Equal(t, http.StatusSeeOther, w.Code)
		require.Equal(t, "/ring", w.Header().Get("Location"))
		v, err := client.Get(t.Context(), "test.ring")
		require.NoError(t, err)
		require.Equal(t, Left, v.(*Desc).Instances["dead<b>"].State)
		require.Equal(t, Active, v.(*Desc).Instances["alive"].State)
	})
}

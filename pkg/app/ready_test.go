package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/flusher"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// runningManager returns a manager of one running service.
func runningManager(t *testing.T) *services.Manager {
	t.Helper()
	svc := services.New("ingester", nil, nil, nil)
	require.NoError(t, svc.StartAsync(context.Background()))
	require.NoError(t, svc.AwaitRunning(context.Background()))
	t.Cleanup(func() {
		svc.StopAsync()
		require.NoError(t, svc.AwaitTerminated(context.Background()))
	})
	return services.NewManager(slog.New(slog.DiscardHandler), svc)
}

func TestReadyReport(t *testing.T) {
	failedAt := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	flushedAt := failedAt.Add(-time.Hour)
	replaying := ingester.Status{Replay: ingester.ReplayStatus{
		Tenants: 10, TenantsReplayed: 3, Series: 1200, DurationSeconds: 12.5,
		Tenant: "team-a", Segment: 4, FirstSegment: 2, LastSegment: 7,
	}}
	backlog := &flusher.Status{
		QueueLength: 3, Waiting: 2, InProgress: 1, OldestUnflushedAgeSeconds: 7384,
		ConsecutiveFailures: 5, LastError: "flushing block 01J of tenant team-a: store unavailable", LastErrorTime: &failedAt,
		LastFlushTime: &flushedAt,
	}
	running := ingester.Status{
		Replay:  ingester.ReplayStatus{Done: true, Tenants: 10, TenantsReplayed: 10, Series: 4000, DurationSeconds: 40},
		Tenants: 11, InflightPushes: 2, WALFailedTenants: []tenant.ID{"team-b"},
	}
	tests := map[string]struct {
		ready    bool
		ingester ingester.Status
		flush    *flusher.Status
		public   bool
		wantCode int
		want     string
	}{
		"replaying the WAL at startup": {
			ingester: replaying, flush: &flusher.Status{}, wantCode: http.StatusServiceUnavailable,
			want: `not ready: starting
wal replay: in progress, 3 of 10 tenants, 1200 series in 12.5s; tenant "team-a" at WAL segment 4 of 2..7
ingester: 0 tenants, 0 pushes in flight
flush: 0 blocks not in the store (0 waiting, 0 in progress), the oldest compacted 0s ago
`,
		},
		"ready while the store is down": {
			ready: true, ingester: running, flush: backlog, wantCode: http.StatusOK,
			want: `ready
wal replay: done, 10 of 10 tenants, 4000 series in 40s
ingester: 11 tenants, 2 pushes in flight
ingester: a WAL write failed (disk full?): pushes refused until the WAL is reopened, for tenants team-b
flush: 3 blocks not in the store (2 waiting, 1 in progress), the oldest compacted 2h3m4s ago
flush: 5 failed attempts in a row, the last at 2026-01-02T03:04:05Z: flushing block 01J of tenant team-a: store unavailable
flush: last block written at 2026-01-02T02:04:05Z
`,
		},
		"the public listener tells whether it is ready, nothing more": {
			ready: true, ingester: running, flush: backlog, public: true, wantCode: http.StatusOK,
			want: "ready\n",
		},
		"the public listener names the service that is not running": {
			ingester: replaying, flush: backlog, public: true, wantCode: http.StatusServiceUnavailable,
			want: "not ready: starting\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m *services.Manager
			if tc.ready {
				m = runningManager(t)
			}
			detail := func(r *readyReport) {
				s, f := tc.ingester, *tc.flush
				r.Ingester, r.Flush = &s, &f
			}
			if tc.public {
				detail = nil // as registerCommonRoutes mounts it
			}
			h := readyHandler(func() *services.Manager { return m }, detail)

			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ready", nil))
			require.Equal(t, tc.wantCode, rec.Code)
			require.Equal(t, tc.want, rec.Body.String())

			req := httptest.NewRequest(http.MethodGet, "/ready", nil)
			req.Header.Set("Accept", "application/json")
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.wantCode, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var got readyReport
			require.NoError(t, json.NewDecoder(rec.Body).Decode(&got))
			require.Equal(t, tc.ready, got.Ready)
			if tc.public {
				require.Nil(t, got.Ingester, "no tenant count, no pushes in flight")
				require.Nil(t, got.Flush)
				return
			}
			require.Equal(t, tc.ingester.Replay.TenantsReplayed, got.Ingester.Replay.TenantsReplayed)
			require.Equal(t, tc.flush.QueueLength, got.Flush.QueueLength)
		})
	}
}

// TestReadyShowsIngesterAndFlush asks a running all-in-one's /ready on
// both listeners: the operator one shows the ingester and the flusher, the
// public one only whether the process is ready.
func TestReadyShowsIngesterAndFlush(t *testing.T) {
	p := startProcess(t, TargetAll)
	for _, tc := range []struct {
		addr   string
		detail bool
	}{{p.app.InternalAddr(), true}, {p.app.HTTPAddr(), false}} {
		for _, accept := range []string{"application/json", ""} {
			req, err := http.NewRequest(http.MethodGet, "http://"+tc.addr+"/ready", nil)
			require.NoError(t, err)
			req.Header.Set("Accept", accept)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			if accept == "" {
				if tc.detail {
					require.Contains(t, string(body), "pushes in flight")
				} else {
					require.Equal(t, "ready\n", string(body))
				}
				continue
			}
			var got readyReport
			require.NoError(t, json.Unmarshal(body, &got), "%s", body)
			require.True(t, got.Ready)
			if !tc.detail {
				require.Nil(t, got.Ingester, "%s", body)
				require.Nil(t, got.Flush, "%s", body)
				require.NotContains(t, string(body), "tenants")
				continue
			}
			require.NotNil(t, got.Ingester)
			require.True(t, got.Ingester.Replay.Done)
			require.NotNil(t, got.Flush)
		}
	}
}

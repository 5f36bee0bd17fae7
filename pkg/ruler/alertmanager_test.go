package ruler

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// alertmanagerBinary finds an Alertmanager: scripts/install-alertmanager.sh
// puts v0.31.1 in .cache/bin; Debian's prometheus-alertmanager also does.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	local := filepath.Join(filepath.Dir(file), "..", "..", ".cache", "bin", "alertmanager")
	if _, err := os.Stat(local); err == nil {
		return local
	}
	for _, name := range []string{"alertmanager", "prometheus-alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Alertmanager: run scripts/install-alertmanager.sh (go install github.com/prometheus/alertmanager/cmd/alertmanager@v0.31.1 into .cache/bin)")
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// startAlertmanager runs a real Alertmanager on loopback until the test
// ends and returns its URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	bin := alertmanagerBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "am.yml")
	require.NoError(t, os.WriteFile(cfg, []byte("route: {receiver: 'null', group_wait: 0s}\nreceivers: [{name: 'null'}]\n"), 0o600))
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.path="+dir, "--web.listen-address="+addr, "--cluster.listen-address=")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	u := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(u + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)
	return u
}

type amAlert struct {
	Labels   map[string]string `json:"labels"`
	EndsAt   time.Time         `json:"endsAt"`
	StartsAt time.Time         `json:"startsAt"`
	Status   struct {
		State string `json:"state"`
	} `json:"status"`
}

func amAlerts(t *testing.T, u string) []amAlert {
	t.Helper()
	resp, err := http.Get(u + "/api/v2/alerts")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []amAlert
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestAlertFiresAndResolvesInAlertmanager(t *testing.T) {
	amURL := startAlertmanager(t)
	cfg := testConfig(t)
	cfg.AlertmanagerURL = amURL
	lim := limits.NewOverrides(limits.Limits{})
	lim.Set(map[tenant.ID]*limits.Limits{"team-a": {RulerExternalLabels: map[string]string{"cluster": "eu-1"}}})
	h := startRuler(t, cfg, lim, nil, nil)

	write := func(v float64) {
		app := h.db.Appender(context.Background())
		_, err := app.Append(0, labels.FromStrings("__name__", "up", "job", "api"), time.Now().UnixMilli(), v)
		require.NoError(t, err)
		require.NoError(t, app.Commit())
	}
	write(0)
	h.store.set(t, "team-a", "ns", `
groups:
- name: g
  interval: 1s
  rules:
  - alert: APIDown
    expr: up == 0
    labels: {severity: page}
`)
	h.ruler.Notify("team-a")
	var got amAlert
	require.Eventually(t, func() bool {
		write(0)
		for _, a := range amAlerts(t, amURL) {
			if a.Labels["alertname"] == "APIDown" && a.Status.State == "active" {
				got = a
				return true
			}
		}
		return false
	}, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, map[string]string{"alertname": "APIDown", "job": "api", "severity": "page", "cluster": "eu-1"}, got.Labels)

	// The data resolves: the Alertmanager marks the alert resolved.
	require.Eventually(t, func() bool {
		write(1)
		for _, a := range amAlerts(t, amURL) {
			if a.Labels["alertname"] == "APIDown" && a.EndsAt.After(time.Now()) {
				return false
			}
		}
		return true
	}, 30*time.Second, 200*time.Millisecond, "alert not resolved")
}

package app

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// rawPush sends one remote-write 1.0 request and returns the response.
func rawPush(t *testing.T, addr, tenantID string, req *prompb.WriteRequest) *http.Response {
	t.Helper()
	raw, err := req.Marshal()
	require.NoError(t, err)
	r, err := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/push", bytes.NewReader(snappy.Encode(nil, raw)))
	require.NoError(t, err)
	r.Header.Set("Content-Type", "application/x-protobuf")
	r.Header.Set("Content-Encoding", "snappy")
	r.Header.Set("X-Scope-OrgID", tenantID)
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func seriesRequest(n int, ts time.Time, extra ...prompb.Label) *prompb.WriteRequest {
	req := &prompb.WriteRequest{}
	for i := range n {
		lbls := append([]prompb.Label{{Name: "__name__", Value: "limited"}}, extra...)
		lbls = append(lbls, prompb.Label{Name: "i", Value: fmt.Sprint(i)})
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: lbls, Samples: []prompb.Sample{{Value: 1, Timestamp: ts.UnixMilli()}}})
	}
	return req
}

// TestRuntimeOverridesRateLimitAndHADedup checks the wiring of the
// per-tenant rate limit (from the runtime overrides file, changed while
// running) and of HA-pair deduplication in the all-in-one.
func TestRuntimeOverridesRateLimitAndHADedup(t *testing.T) {
	overrides := filepath.Join(t.TempDir(), "overrides.yaml")
	write := func(body string) { require.NoError(t, os.WriteFile(overrides, []byte(body), 0o600)) }
	write("overrides:\n  slow:\n    ingestion_rate_limit: 10\n    ingestion_burst_size: 10\n  ha:\n    accept_ha_samples: true\n")
	p := startProcess(t, TargetAll,
		"-runtime-config.file="+overrides,
		"-runtime-config.reload-period=100ms",
		"-distributor.ha-tracker.enable=true",
	)
	now := time.Now()

	// Over the burst: 429 with Retry-After; another tenant is unaffected.
	resp := rawPush(t, p.app.HTTPAddr(), "slow", seriesRequest(20, now))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "fast", seriesRequest(20, now)).StatusCode)

	// Raising the limit in the file takes effect without a restart.
	write("overrides:\n  slow:\n    ingestion_rate_limit: 100000\n    ingestion_burst_size: 100000\n  ha:\n    accept_ha_samples: true\n")
	require.Eventually(t, func() bool {
		return rawPush(t, p.app.HTTPAddr(), "slow", seriesRequest(20, now)).StatusCode == http.StatusNoContent
	}, 10*time.Second, 50*time.Millisecond)

	// HA pair: the first replica is elected, the other one's push is
	// accepted but dropped (202, nothing written).
	cluster := prompb.Label{Name: "cluster", Value: "eu"}
	a := rawPush(t, p.app.HTTPAddr(), "ha", seriesRequest(3, now, prompb.Label{Name: "__replica__", Value: "a"}, cluster))
	require.Equal(t, http.StatusNoContent, a.StatusCode)
	b := rawPush(t, p.app.HTTPAddr(), "ha", seriesRequest(3, now, prompb.Label{Name: "__replica__", Value: "b"}, cluster))
	require.Equal(t, http.StatusAccepted, b.StatusCode)
	require.Equal(t, "0", b.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))
}

// TestScaleDownShutdownFlushesAndExits posts /ingester/shutdown with the
// operator credential: everything is flushed to the store and the process
// stops by itself.
func TestScaleDownShutdownFlushesAndExits(t *testing.T) {
	p := startProcess(t, TargetAll)
	require.Equal(t, http.StatusNoContent, rawPush(t, p.app.HTTPAddr(), "team-a", seriesRequest(10, time.Now())).StatusCode)

	post := func(token string) *http.Response {
		r, err := http.NewRequest(http.MethodPost, "http://"+p.app.InternalAddr()+"/ingester/shutdown", nil)
		require.NoError(t, err)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	require.Equal(t, http.StatusUnauthorized, post("").StatusCode)
	require.Equal(t, http.StatusNoContent, post(p.app.operatorToken.Token.Reveal()).StatusCode)

	select {
	case err := <-p.done:
		p.done = nil // Stopped: the cleanup must not wait for it again.
		require.NoError(t, err, "the process stopped with an error after /ingester/shutdown")
	case <-time.After(30 * time.Second):
		t.Fatal("the process did not stop after /ingester/shutdown")
	}
	require.Positive(t, gatherSum(t, p, "hearth_ingester_flushed_blocks_total"))
}

// gatherSum sums every series of a counter or gauge in the process's registry.
func gatherSum(t *testing.T, p *testProcess, name string) float64 {
	t.Helper()
	mfs, err := p.reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

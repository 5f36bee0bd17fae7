package auth

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestClusterSignedReads: a read signed by a member of the cluster (the
// ruler querying the frontend) is served as its tenant without an API
// key; a signature of another secret, a replayed or altered request, and
// a signed write are not.
func TestClusterSignedReads(t *testing.T) {
	c, err := NewCluster(secretConfig("cluster-secret-1"), ClusterOptions{})
	require.NoError(t, err)
	other, err := NewCluster(secretConfig("cluster-secret-2"), ClusterOptions{})
	require.NoError(t, err)
	cfg := testConfig()
	cfg.FailureBurst = 10_000
	a, _ := newAuth(t, cfg, NewKeys(newMem()), nil)
	a.cluster = c
	srv := publicServer(t, a)

	send := func(t *testing.T, r *http.Request) (int, string) {
		t.Helper()
		resp, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	signed := func(cl *Cluster, method, path string) *http.Request {
		r, err := http.NewRequest(method, srv.URL+path, nil)
		require.NoError(t, err)
		cl.SignHTTP(r, "team-a")
		return r
	}

	r := signed(c, http.MethodGet, "/prometheus/api/v1/query")
	status, body := send(t, r)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "team-a", body)

	status, body = send(t, r)
	require.Equal(t, http.StatusUnauthorized, status, "a replayed request")
	require.Contains(t, body, "already used")

	status, body = send(t, signed(other, http.MethodGet, "/prometheus/api/v1/query"))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "err-hearth-cluster-credential")

	moved := signed(c, http.MethodGet, "/prometheus/api/v1/query")
	moved.URL.Path = "/prometheus/api/v1/series"
	status, _ = send(t, moved)
	require.Equal(t, http.StatusUnauthorized, status, "signed for another path")

	retenanted := signed(c, http.MethodGet, "/prometheus/api/v1/query")
	retenanted.Header.Set(tenant.Header, "team-b")
	status, _ = send(t, retenanted)
	require.Equal(t, http.StatusUnauthorized, status, "signed for another tenant")

	status, body = send(t, signed(c, http.MethodPost, "/api/v1/push"))
	require.Equal(t, http.StatusUnauthorized, status, "a write needs an API key")
	require.Contains(t, body, "authentication required")
}

package app

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/storage/remote"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/auth/cli"
)

// createKey runs `hearth keys create` against the process's operator API
// and returns the key it printed.
func createKey(t *testing.T, p *testProcess, tenantID, scope string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run([]string{"create", "--tenant", tenantID, "--scope", scope,
		"--addr", "http://" + p.app.InternalAddr(), "--token-file", p.app.operatorToken.Path}, &stdout, &stderr)
	require.Zero(t, code, stderr.String())
	return strings.TrimSpace(stdout.String())
}

func keyPusher(t *testing.T, httpAddr string, http config_util.HTTPClientConfig) *pusher {
	t.Helper()
	u, err := url.Parse("http://" + httpAddr + "/api/v1/push")
	require.NoError(t, err)
	c, err := remote.NewWriteClient("test", &remote.ClientConfig{URL: &config_util.URL{URL: u}, Timeout: model.Duration(10 * time.Second), HTTPClientConfig: http})
	require.NoError(t, err)
	return &pusher{client: c}
}

type bearerTransport struct{ token string }

func (bt bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+bt.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestAllInOneAPIKeys runs the all-in-one as `make run` does (API keys,
// nothing open by default): a key made with the CLI lets a stock
// remote-write client push with Basic auth and a Prometheus API client
// query with a bearer token; anything else is refused.
func TestAllInOneAPIKeys(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys")
	ctx := context.Background()
	now := time.Now()

	// Nothing is open: no key, no push; no operator token, no admin API.
	anon := keyPusher(t, p.app.HTTPAddr(), config_util.DefaultHTTPClientConfig)
	err := anon.push(ctx, 1, now, 1)
	require.ErrorContains(t, err, "401")
	resp, err := http.Post("http://"+p.app.InternalAddr()+"/admin/tenants/team-a/keys", "application/json", strings.NewReader(`{"scopes":["write"]}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	writeKey := createKey(t, p, "team-a", "write")
	readKey := createKey(t, p, "team-a", "read")

	basic := config_util.DefaultHTTPClientConfig
	basic.BasicAuth = &config_util.BasicAuth{Username: "team-a", Password: config_util.Secret(writeKey)}
	require.NoError(t, keyPusher(t, p.app.HTTPAddr(), basic).push(ctx, 5, now, 7))

	// Another tenant's name with this key: 403, never a write to team-b.
	forged := basic
	forged.BasicAuth = &config_util.BasicAuth{Username: "team-b", Password: config_util.Secret(writeKey)}
	require.ErrorContains(t, keyPusher(t, p.app.HTTPAddr(), forged).push(ctx, 5, now, 8), "403")

	query := func(key string) (model.Value, error) {
		c, err := promapi.NewClient(promapi.Config{Address: "http://" + p.app.HTTPAddr() + "/prometheus", RoundTripper: bearerTransport{token: key}})
		require.NoError(t, err)
		v, _, _, err := promv1.NewAPI(c).Query(ctx, "sum(test_metric)", now)
		return v, err
	}
	v, err := query(readKey)
	require.NoError(t, err)
	require.Equal(t, model.SampleValue(35), v.(model.Vector)[0].Value)

	// A write key cannot read.
	_, err = query(writeKey)
	var apiErr *promv1.Error
	require.True(t, errors.As(err, &apiErr), "%v", err)
	require.Contains(t, apiErr.Detail, "lacks the read scope")
}

package app

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
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
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Detail, "lacks the read scope")

	// Series deletion needs the admin scope: a read key is refused, an
	// admin key deletes (204), and the series is gone from queries.
	deleteSeries := func(key string) error {
		c, err := promapi.NewClient(promapi.Config{Address: "http://" + p.app.HTTPAddr() + "/prometheus", RoundTripper: bearerTransport{token: key}})
		require.NoError(t, err)
		return promv1.NewAPI(c).DeleteSeries(ctx, []string{"test_metric"}, now.Add(-time.Hour), now.Add(time.Hour))
	}
	err = deleteSeries(readKey)
	require.ErrorAs(t, err, &apiErr)
	require.Contains(t, apiErr.Detail, "lacks the admin scope")
	require.NoError(t, deleteSeries(createKey(t, p, "team-a", "admin")))
	v, err = query(readKey)
	require.NoError(t, err)
	require.Empty(t, v.(model.Vector))
}

// TestAllInOneGoodKeysDuringABadKeyFlood replays issue 13's attack on a
// running all-in-one: from 127.0.0.1, 40 bad credentials a second (random
// API keys, the tenant's name with wrong keys, bad operator tokens) while
// the good tenant pushes from the same address and an operator uses the
// operator listener. Every good push and operator request succeeds.
func TestAllInOneGoodKeysDuringABadKeyFlood(t *testing.T) {
	p := startProcess(t, TargetAll, "-auth.mode=api-keys")
	ctx := context.Background()
	writeKey := createKey(t, p, "team-a", "write")
	token, err := os.ReadFile(p.app.operatorToken.Path)
	require.NoError(t, err)

	stop := make(chan struct{})
	flooded := make(chan map[int]int)
	go func() {
		statuses := map[int]int{}
		tick := time.NewTicker(25 * time.Millisecond) // 40/s
		defer tick.Stop()
		bad := []func() (*http.Request, error){
			func() (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, "http://"+p.app.HTTPAddr()+"/api/v1/push", strings.NewReader("x"))
				if err == nil {
					r.Header.Set("Authorization", "Bearer hearth_aaaaaaaaaaaaaaaa_"+strings.Repeat("b", 52))
				}
				return r, err
			},
			func() (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, "http://"+p.app.HTTPAddr()+"/api/v1/push", strings.NewReader("x"))
				if err == nil {
					r.SetBasicAuth("team-a", writeKey[:len(writeKey)-1]+"z")
				}
				return r, err
			},
			func() (*http.Request, error) {
				r, err := http.NewRequest(http.MethodGet, "http://"+p.app.InternalAddr()+"/services", nil)
				if err == nil {
					r.Header.Set("Authorization", "Bearer hearth_operator_guess")
				}
				return r, err
			},
		}
		for i := 0; ; i++ {
			select {
			case <-stop:
				flooded <- statuses
				return
			case <-tick.C:
			}
			req, err := bad[i%len(bad)]()
			if err != nil {
				continue
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			resp.Body.Close()
			statuses[resp.StatusCode]++
		}
	}()

	basic := config_util.DefaultHTTPClientConfig
	basic.BasicAuth = &config_util.BasicAuth{Username: "team-a", Password: config_util.Secret(writeKey)}
	good := keyPusher(t, p.app.HTTPAddr(), basic)
	bearer := keyPusher(t, p.app.HTTPAddr(), config_util.HTTPClientConfig{Authorization: &config_util.Authorization{Type: "Bearer", Credentials: config_util.Secret(writeKey)}})
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	now := time.Now()
	for i := range 36 {
		<-tick.C
		pusher := good
		if i%2 == 1 {
			pusher = bearer
		}
		require.NoError(t, pusher.push(ctx, 1, now.Add(time.Duration(i)*time.Millisecond), float64(i)), "good push %d", i)
		req, err := http.NewRequest(http.MethodGet, "http://"+p.app.InternalAddr()+"/services", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "operator request %d", i)
	}
	close(stop)
	statuses := <-flooded
	require.Zero(t, statuses[http.StatusOK]+statuses[http.StatusNoContent], "%v", statuses)
	require.NotZero(t, statuses[http.StatusTooManyRequests], "%v", statuses)
	t.Logf("36 of 36 good pushes and operator requests served during a flood answered %v", statuses)
}

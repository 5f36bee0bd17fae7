package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// ClusterHTTPHeader carries a cluster member's signature on an HTTP read it
// makes for a tenant: the ruler's rule queries to the query frontend
// (-ruler.query-frontend.address). The value is "v1:<unix ms>:<nonce>:<mac>",
// the MAC the same as on internal gRPC calls (grpchmac.go) over the
// request's host, "HTTP <method> <path>", the tenant (X-Scope-OrgID), the
// time and the nonce. Only read-scope routes take it, within the same 30s
// window and replay cache as gRPC calls. There is no audience check: an
// HTTP server does not know the names it is reached by, so a captured
// signature could be replayed once to another member within the window,
// for the same read.
const ClusterHTTPHeader = "X-Hearth-Cluster-Auth"

// SignHTTP signs r as a read for t by this cluster member, and names t in
// X-Scope-OrgID. Without a cluster secret (mutual TLS only) it adds
// nothing, and the server asks for an API key.
func (c *Cluster) SignHTTP(r *http.Request, t tenant.ID) {
	if c.hmacKey == nil {
		return
	}
	var nonce [nonceLen]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	ts := strconv.FormatInt(c.now().UnixMilli(), 10)
	n := base64.RawURLEncoding.EncodeToString(nonce[:])
	tenant.InjectHeader(r, t)
	mac := c.mac(r.URL.Host, httpSignedMethod(r), []string{string(t)}, ts, n)
	r.Header.Set(ClusterHTTPHeader, "v1:"+ts+":"+n+":"+base64.RawURLEncoding.EncodeToString(mac))
}

func httpSignedMethod(r *http.Request) string { return "HTTP " + r.Method + " " + r.URL.Path }

var errClusterHTTP = errors.New("cluster credential")

// verifyHTTP returns the tenant of a request signed by SignHTTP.
func (c *Cluster) verifyHTTP(r *http.Request) (tenant.ID, error) {
	if c.hmacKey == nil {
		return "", fmt.Errorf("%w: this process has no cluster secret", errClusterHTTP)
	}
	parts := strings.Split(r.Header.Get(ClusterHTTPHeader), ":")
	if len(parts) != 4 || parts[0] != "v1" {
		c.refused.WithLabelValues("malformed").Inc()
		return "", fmt.Errorf("%w: malformed", errClusterHTTP)
	}
	ms, err := strconv.ParseInt(parts[1], 10, 64)
	nonce, nerr := base64.RawURLEncoding.DecodeString(parts[2])
	mac, merr := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil || nerr != nil || merr != nil || len(nonce) != nonceLen {
		c.refused.WithLabelValues("malformed").Inc()
		return "", fmt.Errorf("%w: malformed", errClusterHTTP)
	}
	now, ts := c.now(), time.UnixMilli(ms)
	if d := now.Sub(ts); d > clockWindow || d < -clockWindow {
		c.refused.WithLabelValues("clock").Inc()
		return "", fmt.Errorf("%w: timestamp %s from this server's clock", errClusterHTTP, d.Round(time.Millisecond))
	}
	id, err := tenant.Parse(r.Header.Get(tenant.Header))
	if err != nil {
		return "", fmt.Errorf("%w: %w", errClusterHTTP, err)
	}
	if !hmac.Equal(mac, c.mac(r.Host, httpSignedMethod(r), []string{string(id)}, parts[1], parts[2])) {
		c.refused.WithLabelValues("signature").Inc()
		return "", fmt.Errorf("%w: wrong signature (another cluster secret?)", errClusterHTTP)
	}
	switch c.nonces.add([nonceLen]byte(nonce), ts, now) {
	case nonceReplayed:
		c.refused.WithLabelValues("replay").Inc()
		return "", fmt.Errorf("%w: already used", errClusterHTTP)
	case nonceCacheFull:
		c.refused.WithLabelValues("cache_full").Inc()
		return "", fmt.Errorf("%w: too many signed requests in the replay window", errClusterHTTP)
	}
	return id, nil
}

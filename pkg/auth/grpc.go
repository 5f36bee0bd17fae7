package auth

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ErrNoClusterCredential is returned by NewCluster when neither a cluster
// secret nor mutual TLS is configured and none may be generated.
var ErrNoClusterCredential = errors.New("internal gRPC is unauthenticated: set -auth.cluster-secret-file (or -auth.cluster-secret) or -auth.grpc-tls-cert-file, -auth.grpc-tls-key-file and -auth.grpc-tls-ca-file")

// ClusterOptions are NewCluster's settings that are not flags.
type ClusterOptions struct {
	// GenerateSecret makes a random secret when none is configured: right
	// for a process that only talks to itself (the all-in-one).
	GenerateSecret bool
	// AllowOpen accepts no credential at all: every caller is trusted
	// (-auth.mode=none, development only).
	AllowOpen bool
	// Registerer takes the cluster credential's metrics; nil drops them.
	Registerer prometheus.Registerer
}

// Cluster authenticates gRPC between components with mutual TLS (the
// production mode), an HMAC keyed with the cluster secret, or both.
type Cluster struct {
	secret    Secret
	hmacKey   []byte
	serverTLS *tls.Config
	clientTLS *tls.Config
	open      bool

	now     func() time.Time
	nonces  *nonceCache
	refused *prometheus.CounterVec

	audMu     sync.RWMutex
	audiences map[string]bool
}

// NewCluster loads the cluster credentials cfg names.
func NewCluster(cfg Config, opts ClusterOptions) (*Cluster, error) {
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	c := &Cluster{
		secret:    cfg.ClusterSecret,
		now:       time.Now,
		nonces:    newNonceCache(maxNonces),
		audiences: map[string]bool{},
		refused: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_auth_cluster_refused_total",
			Help: "Internal gRPC calls refused before their message was read, by reason: missing, malformed, clock (timestamp outside the window), signature (another secret), audience (signed for another server), replay, cache_full.",
		}, []string{"reason"}),
	}
	if cfg.ClusterSecretFile != "" {
		s, _, err := readSecretFile(cfg.ClusterSecretFile)
		if err != nil {
			return nil, fmt.Errorf("reading -auth.cluster-secret-file: %w", err)
		}
		c.secret = s
	}
	if cfg.tlsEnabled() {
		if err := c.loadTLS(cfg); err != nil {
			return nil, err
		}
	}
	if c.secret.IsZero() && c.serverTLS == nil {
		switch {
		case opts.GenerateSecret:
			c.secret = NewSecret(randomString(secretBytes))
		case opts.AllowOpen:
			c.open = true
		default:
			return nil, ErrNoClusterCredential
		}
	}
	if !c.secret.IsZero() {
		c.hmacKey = c.deriveKey(hmacKeyInfo)
	}
	return c, nil
}

func (c *Cluster) loadTLS(cfg Config) error {
	cert, err := tls.LoadX509KeyPair(cfg.GRPCTLSCertFile, cfg.GRPCTLSKeyFile)
	if err != nil {
		return fmt.Errorf("loading -auth.grpc-tls-cert-file and -auth.grpc-tls-key-file: %w", err)
	}
	pem, err := os.ReadFile(cfg.GRPCTLSCAFile)
	if err != nil {
		return fmt.Errorf("reading -auth.grpc-tls-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("-auth.grpc-tls-ca-file %s: no PEM certificate", cfg.GRPCTLSCAFile)
	}
	c.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
	c.clientTLS = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   cfg.GRPCTLSServerName,
		MinVersion:   tls.VersionTLS13,
	}
	return nil
}

// Derived keys: each use of the cluster secret gets its own key, so that
// one leaking (a gossip key read from a heap dump) reveals neither the
// secret nor the others.
const (
	gossipKeyInfo = "hearth memberlist gossip key v1"
	hkdfSalt      = "hearth cluster secret"
)

// GossipKey returns the 32-byte memberlist key derived from the cluster
// secret with HKDF-SHA256, or nil when there is no secret (mutual TLS
// alone, or -auth.mode=none without a credential).
func (c *Cluster) GossipKey() []byte {
	if c.secret.IsZero() {
		return nil
	}
	return c.deriveKey(gossipKeyInfo)
}

func (c *Cluster) deriveKey(info string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(c.secret.Reveal()), []byte(hkdfSalt), info, 32)
	if err != nil {
		panic(fmt.Sprintf("hkdf: %v", err)) // only for lengths over 255×32 bytes
	}
	return key
}

// ServerOptions returns the options a gRPC server needs: TLS credentials
// when configured (the handshake refuses a client without a certificate of
// the cluster's CA), and with a cluster secret a tap handle that refuses a
// call without a valid signature before its message is read.
func (c *Cluster) ServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if c.serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.serverTLS)))
	}
	if c.hmacKey != nil {
		opts = append(opts, grpc.InTapHandle(c.tapHandle))
	}
	return opts
}

// DialOptions returns the options a gRPC client needs: TLS credentials
// when configured, and a signature on every call with a cluster secret.
// They must come after any default transport credentials (the last one
// wins).
func (c *Cluster) DialOptions() []grpc.DialOption {
	var opts []grpc.DialOption
	if c.clientTLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(c.clientTLS)))
	}
	if c.hmacKey != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(hmacCredentials{c: c, tls: c.clientTLS != nil}))
	}
	return opts
}

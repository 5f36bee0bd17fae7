package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// clusterSecretKey is the gRPC metadata key that carries the cluster
// secret.
const clusterSecretKey = "x-hearth-cluster-secret"

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
}

// Cluster authenticates gRPC between components with the cluster secret,
// mutual TLS, or both.
type Cluster struct {
	secret    Secret
	serverTLS *tls.Config
	clientTLS *tls.Config
	open      bool
}

// NewCluster loads the cluster credentials cfg names.
func NewCluster(cfg Config, opts ClusterOptions) (*Cluster, error) {
	c := &Cluster{secret: cfg.ClusterSecret}
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
// when configured, and interceptors that refuse unauthenticated calls.
// Pass them to grpc.NewServer before the tenant interceptors: gRPC runs
// chained interceptors in the order they were added, so the tenant is read
// from metadata only after the caller was authenticated.
func (c *Cluster) ServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if c.serverTLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.serverTLS)))
	}
	return append(opts,
		grpc.ChainUnaryInterceptor(c.UnaryServerInterceptor),
		grpc.ChainStreamInterceptor(c.StreamServerInterceptor))
}

// DialOptions returns the options a gRPC client needs: TLS credentials
// when configured, and the cluster secret on every call. They must come
// after any default transport credentials (the last one wins).
func (c *Cluster) DialOptions() []grpc.DialOption {
	var opts []grpc.DialOption
	if c.clientTLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(c.clientTLS)))
	}
	if !c.secret.IsZero() {
		opts = append(opts, grpc.WithPerRPCCredentials(secretCredentials{secret: c.secret, tls: c.clientTLS != nil}))
	}
	return opts
}

// UnaryServerInterceptor refuses calls without the cluster secret with
// Unauthenticated.
func (c *Cluster) UnaryServerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := c.check(ctx); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func (c *Cluster) StreamServerInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := c.check(ss.Context()); err != nil {
		return err
	}
	return handler(srv, ss)
}

var errUnauthenticated = status.Error(codes.Unauthenticated, "cluster credential missing or wrong")

// check authenticates the caller: with mutual TLS the handshake already
// did; with a secret, the call must carry it.
func (c *Cluster) check(ctx context.Context) error {
	if c.open || c.secret.IsZero() {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(clusterSecretKey)
	if len(vals) != 1 || !c.secret.equal(vals[0]) {
		return errUnauthenticated
	}
	return nil
}

// secretCredentials sends the cluster secret with every call.
type secretCredentials struct {
	secret Secret
	tls    bool
}

func (s secretCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{clusterSecretKey: s.secret.Reveal()}, nil
}

// RequireTransportSecurity is false: the secret keeps strangers out on a
// private network; where the network is not trusted, use mutual TLS too.
func (s secretCredentials) RequireTransportSecurity() bool { return s.tls }

package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// tenantsSeen records the tenant each handler call ran with.
type tenantsSeen struct {
	mu  sync.Mutex
	ids []string
}

func (s *tenantsSeen) record(ctx context.Context) {
	id, _ := tenant.FromContext(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, string(id))
}

func (s *tenantsSeen) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

// grpcServer serves the health service on 127.0.0.1 with the cluster's
// options chained before the tenant interceptors, as the wiring does.
func grpcServer(t testing.TB, c *Cluster) (string, *tenantsSeen) {
	t.Helper()
	seen := &tenantsSeen{}
	opts := append(c.ServerOptions(),
		grpc.ChainUnaryInterceptor(tenant.UnaryServerInterceptor, func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			seen.record(ctx)
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(tenant.StreamServerInterceptor),
	)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	c.AddAudience(lis.Addr().String())
	srv := grpc.NewServer(opts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String(), seen
}

func dial(t testing.TB, addr string, opts ...grpc.DialOption) healthpb.HealthClient {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(tenant.UnaryClientInterceptor)}, opts...)
	cc, err := grpc.NewClient(addr, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cc.Close()) })
	return healthpb.NewHealthClient(cc)
}

func secretConfig(s string) Config {
	cfg := testConfig()
	cfg.ClusterSecret = NewSecret(s)
	return cfg
}

// TestForgedTenantOnGRPCIsRefused: a caller without the cluster secret
// cannot reach a handler, whatever tenant it names.
func TestForgedTenantOnGRPCIsRefused(t *testing.T) {
	c, err := NewCluster(secretConfig("cluster-secret-1"), ClusterOptions{})
	require.NoError(t, err)
	addr, seen := grpcServer(t, c)
	other, err := NewCluster(secretConfig("cluster-secret-2"), ClusterOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	forged := tenant.WithID(ctx, "victim")

	for name, tc := range map[string]struct {
		client healthpb.HealthClient
		ctx    context.Context
		want   codes.Code
	}{
		"no secret, forged tenant in context":  {dial(t, addr), forged, codes.Unauthenticated},
		"no secret, forged tenant in metadata": {dial(t, addr), metadata.AppendToOutgoingContext(ctx, "x-scope-orgid", "victim"), codes.Unauthenticated},
		"another cluster's secret":             {dial(t, addr, other.DialOptions()...), forged, codes.Unauthenticated},
		"a secret in the wrong metadata key":   {dial(t, addr), metadata.AppendToOutgoingContext(forged, "authorization", "Bearer cluster-secret-1"), codes.Unauthenticated},
		"the secret itself in metadata":        {dial(t, addr), metadata.AppendToOutgoingContext(forged, clusterAuthKey, "cluster-secret-1"), codes.Unauthenticated},
		"a signature twice (one forged)":       {dial(t, addr, c.DialOptions()...), metadata.AppendToOutgoingContext(forged, clusterAuthKey, "v1:1:AAAAAAAAAAAAAAAAAAAAAA:AAAA"), codes.Unauthenticated},
		"the cluster secret":                   {dial(t, addr, c.DialOptions()...), forged, codes.OK},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tc.client.Check(tc.ctx, &healthpb.HealthCheckRequest{})
			require.Equal(t, tc.want, status.Code(err), "%v", err)
			// Streams are guarded too.
			ws, err := tc.client.Watch(tc.ctx, &healthpb.HealthCheckRequest{})
			if err == nil {
				_, err = ws.Recv()
			}
			require.Equal(t, tc.want, status.Code(err), "%v", err)
		})
	}
	require.Equal(t, []string{"victim"}, seen.get(), "only the authenticated call reached a handler")
}

func TestNewCluster(t *testing.T) {
	_, err := NewCluster(testConfig(), ClusterOptions{})
	require.ErrorIs(t, err, ErrNoClusterCredential)

	gen, err := NewCluster(testConfig(), ClusterOptions{GenerateSecret: true})
	require.NoError(t, err)
	require.False(t, gen.secret.IsZero())
	require.Len(t, gen.GossipKey(), 32)
	require.NotEqual(t, gen.GossipKey(), gen.hmacKey, "each use gets its own key")
	addr, _ := grpcServer(t, gen)
	_, err = dial(t, addr, gen.DialOptions()...).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = dial(t, addr).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.Unauthenticated, status.Code(err))

	open, err := NewCluster(testConfig(), ClusterOptions{AllowOpen: true})
	require.NoError(t, err)
	addr, _ = grpcServer(t, open)
	_, err = dial(t, addr).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)

	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(file, []byte("  from-file\n"), 0o600))
	cfg := testConfig()
	cfg.ClusterSecretFile = file
	fromFile, err := NewCluster(cfg, ClusterOptions{})
	require.NoError(t, err)
	require.Equal(t, "from-file", fromFile.secret.Reveal())
}

// TestMutualTLS: with -auth.grpc-tls-*, a peer without a certificate of
// the cluster's CA cannot even connect.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.GRPCTLSCertFile, cfg.GRPCTLSKeyFile, cfg.GRPCTLSCAFile = writePKI(t, dir, "cluster")
	require.NoError(t, cfg.Validate())
	c, err := NewCluster(cfg, ClusterOptions{})
	require.NoError(t, err)
	addr, seen := grpcServer(t, c)

	strangerCfg := testConfig()
	strangerCfg.GRPCTLSCertFile, strangerCfg.GRPCTLSKeyFile, _ = writePKI(t, filepath.Join(dir, "x"), "stranger")
	strangerCfg.GRPCTLSCAFile = cfg.GRPCTLSCAFile // trusts our server, but its own cert is from another CA
	stranger, err := NewCluster(strangerCfg, ClusterOptions{})
	require.NoError(t, err)

	ctx := tenant.WithID(t.Context(), "victim")
	_, err = dial(t, addr).Check(ctx, &healthpb.HealthCheckRequest{})
	require.Equal(t, codes.Unavailable, status.Code(err), "plain text to a TLS server: %v", err)
	_, err = dial(t, addr, stranger.DialOptions()...).Check(ctx, &healthpb.HealthCheckRequest{})
	require.Error(t, err, "a client certificate from another CA")
	_, err = dial(t, addr, c.DialOptions()...).Check(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"victim"}, seen.get())

	bad := cfg
	bad.GRPCTLSKeyFile = ""
	require.Error(t, bad.Validate())
}

// writePKI writes a CA and a leaf certificate for 127.0.0.1 signed by it,
// and returns the leaf, its key and the CA file.
func writePKI(t testing.TB, dir, name string) (certFile, keyFile, caFile string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	write := func(file, typ string, der []byte) string {
		p := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER)
}

package auth

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Modes of -auth.mode.
const (
	// ModeAPIKeys authenticates every public request with a tenant's API
	// key. The default.
	ModeAPIKeys = "api-keys"
	// ModeTrustHeader takes the tenant from X-Scope-OrgID, for deployments
	// behind a gateway that authenticates tenants itself.
	ModeTrustHeader = "trust-header"
	// ModeNone puts every public request in one tenant, unauthenticated:
	// single-tenant development only.
	ModeNone = "none"
)

// Config is the `auth:` section.
type Config struct {
	Mode       string        `yaml:"mode"`
	NoneTenant string        `yaml:"none_tenant"`
	CacheTTL   time.Duration `yaml:"cache_ttl"`

	FailureRateLimit float64 `yaml:"failure_rate_limit"`
	FailureBurst     int     `yaml:"failure_burst"`

	// OperatorTokenFile empty means <storage.dir>/operator-token; the
	// wiring resolves it.
	OperatorTokenFile string `yaml:"operator_token_file"`

	ClusterSecret     Secret `yaml:"cluster_secret"`
	ClusterSecretFile string `yaml:"cluster_secret_file"`
	GRPCTLSCertFile   string `yaml:"grpc_tls_cert_file"`
	GRPCTLSKeyFile    string `yaml:"grpc_tls_key_file"`
	GRPCTLSCAFile     string `yaml:"grpc_tls_ca_file"`
	GRPCTLSServerName string `yaml:"grpc_tls_server_name"`
}

// FederationConfig is the `tenant_federation:` section: whether one read
// request may span several tenants.
type FederationConfig struct {
	Enabled bool `yaml:"enabled"`
}

// RegisterFlags registers -tenant-federation.enabled.
func (c *FederationConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enabled, "tenant-federation.enabled", false, "Let one read request (query, query_range, series, labels, label values, metadata, exemplars, remote read) span several tenants: X-Scope-OrgID: a|b with -auth.mode=trust-header, or Basic auth user a|b with an API key of tenant a granted read on b (hearth keys create --read-tenants). Each result series carries __tenant_id__, a matcher on it selects tenants, and every tenant's limits apply.")
}

// RegisterFlags registers the -auth.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Mode, "auth.mode", ModeAPIKeys, "How public requests are bound to a tenant: api-keys (Basic auth with the tenant as user and an API key as password, or Authorization: Bearer <key>), trust-header (X-Scope-OrgID, set by an authenticating gateway) or none (every request in -auth.none-tenant, unauthenticated; development only).")
	f.StringVar(&c.NoneTenant, "auth.none-tenant", "anonymous", "The tenant of every public request with -auth.mode=none.")
	// 5s: a revocation made on one process takes effect on every other
	// within one TTL plus a store read, under the promised 10s, at one
	// batched store read per process per TTL.
	f.DurationVar(&c.CacheTTL, "auth.cache-ttl", 5*time.Second, "How often cached API-key records are re-read from the store: a revocation takes effect everywhere within about this long (at most twice this if the store is unreachable). See also -auth.mode.")
	// 1 failure/s sustained with a burst of 10: a mistyped key or a
	// misconfigured sender is noticed long before it is blocked, while
	// guessing is throttled to a crawl (and pointless against 256 bits).
	f.Float64Var(&c.FailureRateLimit, "auth.failure-rate-limit", 1, "Authentication failures per second one source (an IPv4 address or an IPv6 /64) may sustain for one claimed tenant or key id before further failures of that pair get 429 (a valid key is always served); also the rate of store reads a source may cause for key ids not known to exist, and of bad operator tokens. See also -auth.failure-burst.")
	f.IntVar(&c.FailureBurst, "auth.failure-burst", 10, "Authentication failures one source may make for one claimed tenant or key id in a burst before -auth.failure-rate-limit applies.")
	f.StringVar(&c.OperatorTokenFile, "auth.operator-token-file", "", "File holding the operator credential the internal listener requires (Authorization: Bearer <token>); created with mode 0600 on first start. Empty means <-storage.dir>/operator-token. Processes of one cluster should share one file.")
	f.Var(&c.ClusterSecret, "auth.cluster-secret", "Shared cluster secret, for development clusters (production: -auth.grpc-tls-*). Internal gRPC calls are signed with an HMAC keyed from it (the secret is never sent) and the gossip key is derived from it (see -memberlist.secret-key). Use 32 random bytes. Prefer -auth.cluster-secret-file: flags are visible in the process list.")
	f.StringVar(&c.ClusterSecretFile, "auth.cluster-secret-file", "", "File holding the cluster secret (see -auth.cluster-secret); surrounding white space is ignored.")
	f.StringVar(&c.GRPCTLSCertFile, "auth.grpc-tls-cert-file", "", "PEM certificate this component presents on internal gRPC, as server and as client. Setting it, -auth.grpc-tls-key-file and -auth.grpc-tls-ca-file turns on mutual TLS, the production cluster mode; gossip then needs -memberlist.secret-key unless a cluster secret is set too.")
	f.StringVar(&c.GRPCTLSKeyFile, "auth.grpc-tls-key-file", "", "PEM private key of -auth.grpc-tls-cert-file.")
	f.StringVar(&c.GRPCTLSCAFile, "auth.grpc-tls-ca-file", "", "PEM CA bundle that peers' internal gRPC certificates must chain to. See also -auth.grpc-tls-cert-file.")
	f.StringVar(&c.GRPCTLSServerName, "auth.grpc-tls-server-name", "", "Name checked against servers' certificates on internal gRPC. Empty checks the dialled host (ring addresses are IPs: certificates then need IP SANs).")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeAPIKeys, ModeTrustHeader, ModeNone:
	default:
		errs = append(errs, fmt.Errorf("auth.mode %q: want %s, %s or %s", c.Mode, ModeAPIKeys, ModeTrustHeader, ModeNone))
	}
	if c.Mode == ModeNone {
		if err := tenant.Validate(c.NoneTenant); err != nil {
			errs = append(errs, fmt.Errorf("auth.none_tenant: %w", err))
		}
	}
	if c.CacheTTL <= 0 {
		errs = append(errs, fmt.Errorf("auth.cache_ttl %s: must be positive", c.CacheTTL))
	}
	if c.FailureRateLimit <= 0 {
		errs = append(errs, fmt.Errorf("auth.failure_rate_limit %g: must be positive", c.FailureRateLimit))
	}
	if c.FailureBurst < 1 {
		errs = append(errs, fmt.Errorf("auth.failure_burst %d: must be at least 1", c.FailureBurst))
	}
	if !c.ClusterSecret.IsZero() && c.ClusterSecretFile != "" {
		errs = append(errs, errors.New("auth.cluster_secret and auth.cluster_secret_file: set one, not both"))
	}
	tlsSet := 0
	for _, f := range []string{c.GRPCTLSCertFile, c.GRPCTLSKeyFile, c.GRPCTLSCAFile} {
		if f != "" {
			tlsSet++
		}
	}
	if tlsSet != 0 && tlsSet != 3 {
		errs = append(errs, errors.New("auth.grpc_tls_cert_file, auth.grpc_tls_key_file and auth.grpc_tls_ca_file: set all three or none"))
	}
	return errors.Join(errs...)
}

// HasClusterCredential reports whether a cluster secret or mutual TLS is
// configured for internal gRPC.
func (c *Config) HasClusterCredential() bool {
	return !c.ClusterSecret.IsZero() || c.ClusterSecretFile != "" || c.tlsEnabled()
}

// tlsEnabled reports whether mutual TLS is configured.
func (c *Config) tlsEnabled() bool { return c.GRPCTLSCertFile != "" }

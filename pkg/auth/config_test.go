package auth

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var def Config
	def.RegisterFlags(fs)
	require.NoError(t, def.Validate(), "the defaults are valid")
	require.Equal(t, testConfig(), def)

	bad := Config{Mode: "open", CacheTTL: 0, FailureRateLimit: 0, FailureBurst: 0, ClusterSecret: NewSecret("x"), ClusterSecretFile: "f", GRPCTLSCertFile: "c"}
	err := bad.Validate()
	for _, want := range []string{"auth.mode", "auth.cache_ttl", "auth.failure_rate_limit", "auth.failure_burst", "cluster_secret_file", "grpc_tls"} {
		require.ErrorContains(t, err, want, "Validate reports every problem")
	}
	none := def
	none.Mode, none.NoneTenant = ModeNone, "../x"
	require.ErrorContains(t, none.Validate(), "auth.none_tenant")

	require.NoError(t, fs.Parse([]string{"-auth.cluster-secret=hunter2"}))
	require.Equal(t, "hunter2", def.ClusterSecret.Reveal())
	require.NotContains(t, fs.Lookup("auth.cluster-secret").Value.String(), "hunter2")
}

package app

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/ring"
)

// TestGossipStrangerIsRefused: a process that knows only the gossip
// address, without the cluster's key, can neither join the member list
// nor put itself in the ingester ring (issue 13: such a process joined as
// an ACTIVE ingester owning half the tokens).
func TestGossipStrangerIsRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		target string
		args   []string
	}{
		"an ingester with -auth.cluster-secret":   {TargetIngester, nil},
		"the all-in-one with a generated secret":  {TargetAll, []string{"-auth.cluster-secret="}},
		"an ingester with -memberlist.secret-key": {TargetIngester, []string{"-memberlist.secret-key=gossip-only"}},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.target != TargetAll {
				bigtableEmulator(t)
			}
			p := startProcess(t, tc.target, tc.args...)
			require.Eventually(t, func() bool { return p.app.ingesterRing.InstancesCount() == 1 }, 10*time.Second, 10*time.Millisecond)

			reg := prometheus.NewPedanticRegistry()
			stranger := startStranger(t, p.memberlistAddr(), reg)
			// The join ran while the stranger's KV started, and failed.
			require.GreaterOrEqual(t, counterSum(t, reg, "hearth_memberlist_join_failures_total"), 1.0)
			require.Len(t, stranger.Members(), 1)
			require.Equal(t, []string{p.app.memberlist.NodeName()}, p.app.memberlist.Members())
			require.Equal(t, 1, p.app.ingesterRing.InstancesCount(), "the stranger's ring entry was merged")
		})
	}
}

// startStranger starts a memberlist KV without any key, carrying an ACTIVE
// ingester that owns 128 tokens, and has it join addr.
func startStranger(t *testing.T, addr string, reg prometheus.Registerer) *memberlist.KV {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	var mcfg memberlist.Config
	mcfg.RegisterFlags(flag.NewFlagSet("stranger", flag.PanicOnError))
	mcfg.NodeName = "stranger"
	mcfg.BindAddr, mcfg.BindPort = "127.0.0.1", 0
	mcfg.Join = []string{addr}
	mcfg.LeaveTimeout = 100 * time.Millisecond
	kv, err := memberlist.New(mcfg, logger, reg)
	require.NoError(t, err)
	client := kv.Client(ring.Codec())
	var rcfg ring.Config
	rcfg.RegisterFlagsWithPrefix("ingester.ring.", flag.NewFlagSet("stranger", flag.PanicOnError))
	rcfg.InstanceID, rcfg.InstanceAddr, rcfg.InstancePort = "stranger", "127.0.0.1", 1
	lc, err := ring.NewLifecycler(rcfg, "ingester", client, logger, prometheus.NewRegistry())
	require.NoError(t, err)
	// The lifecycler registers first, so the stranger's state is there to
	// be pushed when its KV joins.
	for _, svc := range []interface {
		StartAsync(context.Context) error
		AwaitRunning(context.Context) error
	}{lc.Service(), kv.Service()} {
		require.NoError(t, svc.StartAsync(context.Background()))
		require.NoError(t, svc.AwaitRunning(t.Context()))
	}
	t.Cleanup(func() {
		for _, svc := range []interface {
			StopAsync()
			AwaitTerminated(context.Context) error
		}{lc.Service(), kv.Service()} {
			svc.StopAsync()
			require.NoError(t, svc.AwaitTerminated(context.Background()))
		}
	})
	return kv
}

// counterSum sums every series of a counter in a registry.
func counterSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestMutualTLSAloneNeedsAGossipKey: mutual TLS authenticates gRPC but has
// no secret to derive a gossip key from; the process refuses to start
// rather than gossip in clear.
func TestMutualTLSAloneNeedsAGossipKey(t *testing.T) {
	tlsArgs := append([]string{"-target=ingester", "-auth.grpc-tls-cert-file=c.pem", "-auth.grpc-tls-key-file=k.pem", "-auth.grpc-tls-ca-file=ca.pem"}, clusterStoreFlags...)
	_, _, err := ParseArgs(tlsArgs, TargetAll, io.Discard)
	require.ErrorContains(t, err, "-memberlist.secret-key")
	for _, extra := range []string{"-memberlist.secret-key=k", "-auth.cluster-secret=s"} {
		_, _, err := ParseArgs(append(tlsArgs, extra), TargetAll, io.Discard)
		require.NoError(t, err, extra)
	}
}

// TestAllInOneListensOnLoopback: the all-in-one binds gossip and gRPC to
// loopback unless it joins others or advertises a non-loopback address;
// explicit listen addresses and other targets keep theirs.
func TestAllInOneListensOnLoopback(t *testing.T) {
	for name, tc := range map[string]struct {
		args                 []string
		wantGossip, wantGRPC string
	}{
		"all-in-one":                                {[]string{"-target=all"}, "127.0.0.1", "127.0.0.1:9095"},
		"all-in-one advertising loopback":           {[]string{"-target=all", "-memberlist.advertise-addr=127.0.0.1"}, "127.0.0.1", "127.0.0.1:9095"},
		"all-in-one joining others":                 {[]string{"-target=all", "-memberlist.join=10.0.0.1:7946", "-auth.cluster-secret=s"}, "0.0.0.0", ":9095"},
		"all-in-one advertising a gossip address":   {[]string{"-target=all", "-memberlist.advertise-addr=10.0.0.2"}, "0.0.0.0", ":9095"},
		"all-in-one advertising a gRPC address":     {[]string{"-target=all", "-ingester.ring.instance-addr=10.0.0.2"}, "0.0.0.0", ":9095"},
		"all-in-one with explicit listen addresses": {[]string{"-target=all", "-memberlist.bind-addr=0.0.0.0", "-server.grpc-listen-address=:9096"}, "0.0.0.0", ":9096"},
		"all-in-one with another gRPC port":         {[]string{"-target=all", "-server.grpc-listen-address=127.0.0.1:9096"}, "127.0.0.1", "127.0.0.1:9096"},
		"an ingester of a cluster":                  {append([]string{"-target=ingester", "-auth.cluster-secret=s"}, clusterStoreFlags...), "0.0.0.0", ":9095"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := ParseArgs(tc.args, TargetAll, io.Discard)
			require.NoError(t, err)
			require.Equal(t, tc.wantGossip, cfg.Memberlist.BindAddr)
			require.Equal(t, tc.wantGRPC, cfg.Server.GRPCListenAddress)
		})
	}

	// Joining others with a generated secret would fail on every call.
	_, _, err := ParseArgs([]string{"-target=all", "-memberlist.join=10.0.0.1:7946"}, TargetAll, io.Discard)
	require.ErrorContains(t, err, "-auth.cluster-secret-file")

	// A YAML file counts as explicit too.
	file := t.TempDir() + "/hearth.yaml"
	require.NoError(t, os.WriteFile(file, []byte("memberlist: {bind_addr: 0.0.0.0}\nserver: {grpc_listen_address: \":9095\"}\n"), 0o600))
	cfg, _, err := ParseArgs([]string{"-config.file=" + file}, TargetAll, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "0.0.0.0", cfg.Memberlist.BindAddr)
	require.Equal(t, ":9095", cfg.Server.GRPCListenAddress)
}

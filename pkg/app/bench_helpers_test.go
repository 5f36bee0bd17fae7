package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// startBenchApp starts the all-in-one (-target=all) for a benchmark: data
// in a temporary directory, every listener on a free port of 127.0.0.1,
// the tenant from X-Scope-OrgID, and an ingestion rate limit far above
// what a benchmark sends. args are more flags, applied after those (a
// flag given again wins). It returns once the App is ready and stops it
// when the benchmark ends.
func startBenchApp(b *testing.B, args ...string) *App {
	b.Helper()
	cfg, explicit, err := ParseArgs(append([]string{
		"-storage.dir=" + b.TempDir(),
		"-server.http-listen-address=127.0.0.1:0",
		"-server.grpc-listen-address=127.0.0.1:0",
		"-server.internal-listen-address=127.0.0.1:0",
		"-memberlist.bind-addr=127.0.0.1",
		"-memberlist.bind-port=0",
		"-log.level=error",
		"-auth.mode=trust-header",
		"-distributor.ingestion-rate-limit=1e9",
		"-distributor.ingestion-burst-size=1000000000",
	}, args...), TargetAll, io.Discard)
	require.NoError(b, err)
	a, err := New(cfg, explicit, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	require.Eventually(b, a.Ready, 20*time.Second, 10*time.Millisecond)
	return a
}

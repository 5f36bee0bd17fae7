// Package backendtest opens the real wide-column backends (packages
// widecolumn/pebble and widecolumn/bigtable) for tests of other packages:
// Pebble in a temporary directory, Bigtable on an in-process emulator.
package backendtest

import (
	"context"
	"testing"

	"cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/bttest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	wcbigtable "github.com/hearthmetrics/hearth/pkg/widecolumn/bigtable"
	wcpebble "github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

// NewPebble opens a Pebble backend in a temporary directory (no fsync), for
// tests of other packages; it is closed when the test ends.
func NewPebble(t testing.TB) *wcpebble.Backend {
	t.Helper()
	o := wcpebble.DefaultOptions()
	o.Dir, o.NoSync = t.TempDir(), true
	b, err := wcpebble.Open(o, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	return b
}

// NewBigtable returns the Bigtable backend on a fresh in-process emulator
// (bttest) on 127.0.0.1; both are closed when the test ends. Packages using
// it ignore the Bigtable client's process-wide goroutines in goleak.
func NewBigtable(t testing.TB) *wcbigtable.Backend {
	t.Helper()
	return NewBigtableWith(t, nil)
}

// NewBigtableWith is [NewBigtable] with options changed by mutate (small
// batches, say) before the backend is built.
func NewBigtableWith(t testing.TB, mutate func(*wcbigtable.Options)) *wcbigtable.Backend {
	t.Helper()
	srv, err := bttest.NewServer("127.0.0.1:0")
	require.NoError(t, err)
	o := wcbigtable.DefaultOptions()
	o.Project, o.Instance, o.Table = "proj", "inst", "chunks"
	o.CreateTable = true
	o.ClientOptions = []option.ClientOption{
		option.WithEndpoint(srv.Addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
	}
	o.ClientConfig = bigtable.ClientConfig{
		MetricsProvider:           bigtable.NoopMetricsProvider{},
		DisableSession:            true,
		DisableDirectAccess:       true,
		DisableConnectionRecycler: true,
		DisableDynamicChannelPool: true,
	}
	if mutate != nil {
		mutate(&o)
	}
	b, err := wcbigtable.New(context.Background(), o, nil, prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, b.Close())
		srv.Close()
	})
	return b
}

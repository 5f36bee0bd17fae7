package app

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// TestSelfMonitoring: the all-in-one writes its own metrics into the
// hearth-self tenant through its distributor, readable as any tenant's.
func TestSelfMonitoring(t *testing.T) {
	p := startProcess(t, TargetAll, "-self-monitoring.interval=50ms")
	require.True(t, p.app.cfg.SelfMonitoring.Enabled, "the all-in-one monitors itself by default")
	api := queryAPI(t, p.app.HTTPAddr(), "hearth-self")
	require.Eventually(t, func() bool {
		v, _, _, err := api.Query(context.Background(), `hearth_build_info{job="hearth"}`, time.Now())
		return err == nil && v.(model.Vector).Len() == 1
	}, 20*time.Second, 50*time.Millisecond)
	// Histograms arrive as a scrape stores them.
	v, _, _, err := api.Query(context.Background(), `count(hearth_distributor_request_duration_seconds_bucket{le="+Inf"})`, time.Now())
	require.NoError(t, err)
	require.Equal(t, 1, v.(model.Vector).Len())

	for args, want := range map[string]bool{
		"-target=all": true,
		"-target=all -self-monitoring.enabled=false": false,
		"-target=distributor":                        false,
	} {
		cfg, _, err := ParseArgs(append(splitArgs(args), clusterStoreFlags...), TargetAll, io.Discard)
		require.NoError(t, err, args)
		require.Equal(t, want, cfg.SelfMonitoring.Enabled, args)
	}
}

func splitArgs(s string) []string { return strings.Fields(s) }

//go:build !slicelabels && !dedupelabels

package ingester

import (
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
)

// TestPreCreationCreatesSeriesOnlyFromOwnedLabels checks the limiter lets
// the head create a series only with a label set Push has allowed (an
// owned copy), by its memory: an equal label set elsewhere is refused.
func TestPreCreationCreatesSeriesOnlyFromOwnedLabels(t *testing.T) {
	owned := labels.FromStrings("__name__", "up", "job", "api")
	equal := owned.Copy()
	for name, tc := range map[string]struct {
		enforcing bool
		allow     []labels.Labels
		disallow  []labels.Labels
		lset      labels.Labels
		want      error
	}{
		"a label set never allowed is refused":               {enforcing: true, lset: owned, want: errUnownedLabels},
		"an allowed label set is accepted":                   {enforcing: true, allow: []labels.Labels{owned}, lset: owned},
		"an equal label set in other memory is refused":      {enforcing: true, allow: []labels.Labels{owned}, lset: equal, want: errUnownedLabels},
		"a label set allowed then disallowed is refused":     {enforcing: true, allow: []labels.Labels{owned}, disallow: []labels.Labels{owned}, lset: owned, want: errUnownedLabels},
		"a label set allowed twice stays after one disallow": {enforcing: true, allow: []labels.Labels{owned, owned}, disallow: []labels.Labels{owned}, lset: owned},
		"WAL replay (not enforcing) creates any series":      {lset: equal},
	} {
		t.Run(name, func(t *testing.T) {
			var instance atomic.Int64
			l := newSeriesLimiter("t", limits.NewOverrides(defaultLimits()), nil, promauto.With(nil).NewGauge(prometheus.GaugeOpts{Name: "g"}), &instance, 0)
			l.enforcing.Store(tc.enforcing)
			for _, ls := range tc.allow {
				l.owned.allow(ls)
			}
			for _, ls := range tc.disallow {
				l.owned.disallow(ls)
			}
			err := l.PreCreation(tc.lset)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

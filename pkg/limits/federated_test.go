package limits

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// TestFederatedLimitsAreTheStrictest: a federated query is held to the
// strictest of its tenants' query limits (0 = unlimited loses to any
// bound), to the widest out-of-order window (what keeps results out of a
// cache), and to a boolean only when every tenant has it.
func TestFederatedLimitsAreTheStrictest(t *testing.T) {
	defaults := Limits{MaxSeriesPerQuery: 100, MaxQueryLength: model.Duration(time.Hour), RejectOldSamples: true}
	o := NewOverrides(defaults)
	o.Set(map[tenant.ID]*Limits{
		"a": {MaxSeriesPerQuery: 0, MaxSamplesPerQuery: 500, MaxQueryLength: model.Duration(2 * time.Hour), OutOfOrderTimeWindow: model.Duration(time.Minute), RejectOldSamples: true, HAClusterLabel: "x"},
		"b": {MaxSeriesPerQuery: 50, MaxSamplesPerQuery: 0, MaxQueryLength: 0, OutOfOrderTimeWindow: model.Duration(time.Hour), RejectOldSamples: false, HAClusterLabel: "x"},
	})
	for name, tc := range map[tenant.ID]struct {
		series, samples int
		length, ooo     time.Duration
		reject          bool
		label           string
	}{
		"a|b": {series: 50, samples: 500, length: 2 * time.Hour, ooo: time.Hour, reject: false, label: "x"},
		"a|c": {series: 100, samples: 500, length: time.Hour, ooo: time.Minute, reject: true, label: ""},
		"b":   {series: 50, samples: 0, length: 0, ooo: time.Hour, reject: false, label: "x"},
	} {
		t.Run(string(name), func(t *testing.T) {
			l := o.For(name)
			require.Equal(t, tc.series, l.MaxSeriesPerQuery)
			require.Equal(t, tc.samples, l.MaxSamplesPerQuery)
			require.Equal(t, tc.length, time.Duration(l.MaxQueryLength))
			require.Equal(t, tc.ooo, time.Duration(l.OutOfOrderTimeWindow))
			require.Equal(t, tc.reject, l.RejectOldSamples)
			require.Equal(t, tc.label, l.HAClusterLabel)
		})
	}
	// The tenants' own limits are left alone.
	require.Equal(t, 0, o.For("a").MaxSeriesPerQuery)
	require.Equal(t, 100, o.For("c").MaxSeriesPerQuery)
}

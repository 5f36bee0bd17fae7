package limits

import (
	"flag"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func defaults(t *testing.T) Limits {
	t.Helper()
	var l Limits
	l.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	return l
}

func TestOverridesFallBackToDefaults(t *testing.T) {
	d := defaults(t)
	o := NewOverrides(d)
	require.Equal(t, 30, o.For("a").MaxLabelNamesPerSeries)
	custom := d
	custom.MaxLabelNamesPerSeries = 5
	o.Set(map[tenant.ID]*Limits{"a": &custom})
	require.Equal(t, 5, o.For("a").MaxLabelNamesPerSeries)
	require.Equal(t, 30, o.For("b").MaxLabelNamesPerSeries)
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Limits)
		wantErr []string
	}{
		"defaults are valid": {mutate: func(*Limits) {}},
		"every negative limit is reported": {
			mutate: func(l *Limits) {
				l.MaxSeriesPerTenant = -1
				l.IngestionRate = -2
			},
			wantErr: []string{"max_series_per_tenant is -1", "ingestion_rate_limit is -2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := defaults(t)
			tc.mutate(&l)
			err := l.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

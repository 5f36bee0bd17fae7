package remotewrite

import (
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestLocalLabelsFor checks that a series' local labels are returned only
// while its pairs are the ones they were recorded with.
func TestLocalLabelsFor(t *testing.T) {
	ls := labels.FromStrings("__name__", "up", "job", "a", "zone", "z")
	for name, tc := range map[string]struct {
		change func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries
		want   bool
	}{
		"unchanged": {change: func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries { return &ts[0] }, want: true},
		"moved with its pairs": {change: func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries {
			ts[0], ts[1] = ts[1], ts[0]
			return &ts[1]
		}, want: true},
		"a label removed in place": {change: func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries {
			ts[0].Labels = slices.Delete(ts[0].Labels, 1, 2)
			return &ts[0]
		}},
		"another series in its place": {change: func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries {
			ts[0], ts[1] = ts[1], ts[0]
			return &ts[0]
		}},
		"pairs replaced by equal ones": {change: func(ts []ingesterpb.TimeSeries) *ingesterpb.TimeSeries {
			ts[0].Labels = slices.Clone(ts[0].Labels)
			return &ts[0]
		}},
	} {
		t.Run(name, func(t *testing.T) {
			ts := []ingesterpb.TimeSeries{
				{Labels: ingesterpb.AppendLabelPairs(nil, ls)},
				{Labels: ingesterpb.AppendLabelPairs(nil, ls)}, // equal labels, other memory
			}
			local := NewLocalLabels(ls, ts[0].Labels)
			got := local.For(tc.change(ts))
			if tc.want {
				require.Equal(t, ls, got)
				return
			}
			require.True(t, got.IsEmpty())
		})
	}
	var zero LocalLabels
	require.True(t, zero.For(&ingesterpb.TimeSeries{}).IsEmpty())
}

// TestPoolDropsLocalLabels checks a request back in the pool holds no
// label set of its last use, spare capacity included.
func TestPoolDropsLocalLabels(t *testing.T) {
	p := NewPool(1 << 20)
	r := p.Get()
	ls := labels.FromStrings("__name__", "up")
	pairs := ingesterpb.AppendLabelPairs(nil, ls)
	r.SeriesLabels = append(r.SeriesLabels, NewLocalLabels(ls, pairs), NewLocalLabels(ls, pairs))
	r.SeriesLabels = r.SeriesLabels[:1] // one series refused by validation
	r.Unref()
	require.Empty(t, r.SeriesLabels)
	for _, l := range r.SeriesLabels[:cap(r.SeriesLabels)] {
		require.Equal(t, LocalLabels{}, l)
	}
}

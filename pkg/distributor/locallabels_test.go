package distributor

import (
	"context"
	"slices"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// TestLocalLabelsReachTheInProcessIngester checks that the labels.Labels a
// request carries beside its series' pairs (remotewrite.Request.SeriesLabels,
// the OTLP handler's) reach an ingester of the process with the series they
// belong to, through validation (which drops and reorders series) and the
// hooks (which may remove labels), and never when they no longer match.
func TestLocalLabelsReachTheInProcessIngester(t *testing.T) {
	nowMs := testNow.UnixMilli()
	stripJob := hookFunc(func(_ context.Context, _ tenant.ID, req *ingesterpb.PushRequest) error {
		for i := range req.Timeseries {
			ts := &req.Timeseries[i]
			if ts.Labels[0].Value == "strip_me" {
				ts.Labels = slices.DeleteFunc(ts.Labels, func(l ingesterpb.LabelPair) bool { return l.Name == "job" })
			}
		}
		return nil
	})
	for name, tc := range map[string]struct {
		inProcess bool
		single    bool
		hooks     []PrePushHook
		series    []ingesterpb.TimeSeries
		noLocal   bool // the request carries no SeriesLabels
		// want are the metric names of the series the ingester got,
		// and whether each came with its labels.
		want      []string
		wantLocal []bool
	}{
		"every series with its labels, one owner": {
			inProcess: true, single: true,
			series: []ingesterpb.TimeSeries{series("a", nowMs, "job", "x"), series("b", nowMs, "job", "y")},
			want:   []string{"a", "b"}, wantLocal: []bool{true, true},
		},
		"every series with its labels, placed per series": {
			inProcess: true,
			series:    []ingesterpb.TimeSeries{series("a", nowMs, "job", "x"), series("b", nowMs, "job", "y")},
			want:      []string{"a", "b"}, wantLocal: []bool{true, true},
		},
		"a refused series leaves the others with their labels": {
			inProcess: true, single: true,
			series: []ingesterpb.TimeSeries{
				series("a", nowMs, "job", "x"),
				series("too_new", nowMs+3_600_000_000, "job", "y"),
				series("c", nowMs, "job", "z"),
				series("d", nowMs, "job", "w"),
			},
			want: []string{"a", "c", "d"}, wantLocal: []bool{true, true, true},
		},
		"a series whose pairs a hook changed goes without": {
			inProcess: true, single: true, hooks: []PrePushHook{stripJob},
			series: []ingesterpb.TimeSeries{series("strip_me", nowMs, "job", "x"), series("b", nowMs, "job", "y")},
			want:   []string{"strip_me", "b"}, wantLocal: []bool{false, true},
		},
		"a series with an empty label value goes without": {
			inProcess: true, single: true,
			series: []ingesterpb.TimeSeries{series("a", nowMs, "job", "x", "zone", ""), series("b", nowMs, "job", "y")},
			want:   []string{"a", "b"}, wantLocal: []bool{false, true},
		},
		"a remote ingester gets the pairs alone": {
			single: true,
			series: []ingesterpb.TimeSeries{series("a", nowMs, "job", "x")},
			want:   []string{"a"},
		},
		"a request without labels goes as ever": {
			inProcess: true, single: true, noLocal: true,
			series: []ingesterpb.TimeSeries{series("a", nowMs, "job", "x")},
			want:   []string{"a"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnvHooks(t, 1, nil, tc.hooks...)
			env.ring.single = tc.single
			ing := env.ingesters[0]
			ing.inProcess = tc.inProcess

			req := &remotewrite.Request{Push: ingesterpb.PushRequest{Timeseries: tc.series}}
			built := map[string]labels.Labels{}
			for i := range req.Push.Timeseries {
				ts := &req.Push.Timeseries[i]
				// What the OTLP handler sends: the labels, and pairs
				// built from them (an empty value kept as the pairs
				// had it, to be dropped by validation).
				ls := ingesterpb.ToLabels(ts.Labels)
				built[ts.Labels[0].Value] = ls
				if !tc.noLocal {
					req.SeriesLabels = append(req.SeriesLabels, remotewrite.NewLocalLabels(ls, ts.Labels))
				}
			}
			_, _ = env.d.Push(tenant.WithID(context.Background(), "tenant-1"), req)
			env.d.Service().StopAsync()
			require.NoError(t, env.d.Service().AwaitTerminated(context.Background()))

			got := ing.series()
			var names []string
			for _, ts := range got {
				names = append(names, ts.Labels[0].Value)
			}
			require.Equal(t, tc.want, names)
			if tc.wantLocal == nil {
				require.Empty(t, ing.receivedLabels)
				return
			}
			require.Len(t, ing.receivedLabels, 1)
			lsets := ing.receivedLabels[0]
			require.Len(t, lsets, len(got))
			for k, ts := range got {
				if !tc.wantLocal[k] {
					require.True(t, lsets[k].IsEmpty(), "series %s", names[k])
					continue
				}
				require.Equal(t, built[names[k]], lsets[k])
				require.Equal(t, ingesterpb.ToLabels(ts.Labels), lsets[k], "the labels are the pairs'")
			}
		})
	}
}

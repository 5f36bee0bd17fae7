package remotewrite

import (
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// LocalLabels are the labels.Labels one series' label pairs were built
// from in this process (by the OTLP handler, from its translator's
// labels), kept beside the pairs for an ingester in the same process: it
// appends with them instead of rebuilding them from the pairs. They
// never leave the process; the pairs stay the series' complete wire form.
//
// They remember which pairs they were built with (the slice's memory and
// length), so that once anything changed those (validation dropping empty
// values, a hook removing a label, series reordered or removed) [For]
// no longer returns them and the ingester builds the labels from the pairs
// as usual. A change of a label's name or value in place is not seen:
// nothing after the handler does that (see the distributor's PrePushHook).
type LocalLabels struct {
	lset  labels.Labels
	pairs *ingesterpb.LabelPair
	n     int
}

// NewLocalLabels returns lset as the local labels of a series whose pairs
// are pairs (built from lset, with every label of lset, in order). lset
// must be memory nothing writes to again, for a TSDB head may keep it.
func NewLocalLabels(lset labels.Labels, pairs []ingesterpb.LabelPair) LocalLabels {
	return LocalLabels{lset: lset, pairs: unsafe.SliceData(pairs), n: len(pairs)}
}

// For returns the labels if ts's pairs are still the ones they were
// recorded with, otherwise empty labels.
func (l *LocalLabels) For(ts *ingesterpb.TimeSeries) labels.Labels {
	if l.n == 0 || len(ts.Labels) != l.n || unsafe.SliceData(ts.Labels) != l.pairs {
		return labels.EmptyLabels()
	}
	return l.lset
}

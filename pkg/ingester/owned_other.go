//go:build slicelabels || dedupelabels

package ingester

import (
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// lookupOnce is false in these builds: a label set's names may be shared
// by other label sets (interned), so its memory has no identity and Push
// asks the head for each series' ref before appending (see owned.go).
const lookupOnce = false

// labelsIdentity is unused in these builds.
func labelsIdentity(labels.Labels) *byte { return nil }

// ownedCopy returns lset with every name and value copied into one new
// allocation, sharing no memory with lset. With these build tags a label
// set holds strings that may alias the request.
func ownedCopy(lset labels.Labels) labels.Labels {
	n := 0
	lset.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) })
	var sb strings.Builder
	sb.Grow(n)
	lset.Range(func(l labels.Label) {
		sb.WriteString(l.Name)
		sb.WriteString(l.Value)
	})
	all := sb.String()
	b := labels.NewScratchBuilder(lset.Len())
	off := 0
	lset.Range(func(l labels.Label) {
		name := all[off : off+len(l.Name)]
		off += len(l.Name)
		value := all[off : off+len(l.Value)]
		off += len(l.Value)
		b.Add(name, value)
	})
	return b.Labels()
}

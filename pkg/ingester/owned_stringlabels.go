//go:build !slicelabels && !dedupelabels

package ingester

import (
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// lookupOnce says Push appends with ref 0 and the request's labels, and
// copies them only when the head refuses to create a series with them
// (see owned.go). In this build a label set is one string: the address
// of its first name's bytes tells two label sets' memory apart.
const lookupOnce = true

// ownedCopy returns lset sharing no memory with it. A label set of the
// default build (stringlabels) is one string holding every name and value,
// so this is a single allocation of exactly the size kept by the head.
func ownedCopy(lset labels.Labels) labels.Labels { return lset.Copy() }

// labelsIdentity returns the address of lset's memory (nil for an empty
// set): two label sets with different memory have different identities.
func labelsIdentity(lset labels.Labels) *byte {
	var id *byte
	lset.Range(func(l labels.Label) {
		if id == nil {
			id = unsafe.StringData(l.Name)
		}
	})
	return id
}

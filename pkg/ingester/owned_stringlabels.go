//go:build !slicelabels && !dedupelabels

package ingester

import "github.com/prometheus/prometheus/model/labels"

// ownedCopy returns lset sharing no memory with it. A label set of the
// default build (stringlabels) is one string holding every name and value,
// so this is a single allocation of exactly the size kept by the head.
func ownedCopy(lset labels.Labels) labels.Labels { return lset.Copy() }

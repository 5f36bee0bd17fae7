package ring

import (
	"context"
	"fmt"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// Operation says what a replica set is wanted for: it decides which
// instance states are acceptable and whether the set is extended past them.
type Operation int

const (
	// Write is the operation of a push: series go to ACTIVE instances; the
	// set is extended past JOINING and LEAVING ones.
	Write Operation = iota
	// Read is the operation of a query: ACTIVE and LEAVING instances answer.
	Read
)

// accepts reports whether an instance in state s serves op. The replica
// set of a key is extended past instances it does not accept.
func (op Operation) accepts(s ringpb.InstanceState) bool {
	switch op {
	case Write:
		return s == Active
	case Read:
		return s == Active || s == Leaving
	}
	return false
}

// ReplicationSet is the instances to send one request to and how many of
// them may fail with the request still succeeding.
type ReplicationSet struct {
	Instances []ringpb.InstanceDesc
	// MaxErrors is how many instances may fail.
	MaxErrors int
	// MaxUnavailableZones, when zones are in use, is how many whole zones
	// may fail instead; MaxErrors is then 0 and ignored.
	MaxUnavailableZones int
}

// Do calls f on every instance of the set in parallel and returns the
// results once enough calls succeeded: all but MaxErrors of them, or, with
// zones, every call in all zones but MaxUnavailableZones of them. The calls
// still running then are cancelled (f must detach its context to let them
// finish). Do fails as soon as more calls (or zones) fail than tolerated.
// The results are in completion order; a tolerance of the whole set is
// capped so that at least one call (or zone) must succeed.
func (rs ReplicationSet) Do(ctx context.Context, f func(context.Context, *ringpb.InstanceDesc) (any, error)) ([]any, error) {
	if len(rs.Instances) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		zone string
		res  any
		err  error
	}
	ch := make(chan result, len(rs.Instances))
	for i := range rs.Instances {
		inst := &rs.Instances[i]
		go func() {
			res, err := f(ctx, inst)
			ch <- result{zone: inst.Zone, res: res, err: err}
		}()
	}

	zonesUsed := rs.MaxUnavailableZones > 0
	maxErrors := min(rs.MaxErrors, len(rs.Instances)-1)
	// pending counts, per zone, the calls that have not succeeded yet.
	var pending map[string]int
	var failedZones map[string]bool
	zonesNeeded, completeZones := 0, 0
	if zonesUsed {
		pending = map[string]int{}
		failedZones = map[string]bool{}
		for _, inst := range rs.Instances {
			pending[inst.Zone]++
		}
		zonesNeeded = max(len(pending)-rs.MaxUnavailableZones, 1)
	}

	results := make([]any, 0, len(rs.Instances))
	errs := 0
	var firstErr error
	for range rs.Instances {
		r := <-ch
		if r.err != nil {
			errs++
			if firstErr == nil {
				firstErr = r.err
			}
			if !zonesUsed {
				if errs > maxErrors {
					return nil, fmt.Errorf("%d of %d instances failed, %d tolerated: %w", errs, len(rs.Instances), maxErrors, firstErr)
				}
				continue
			}
			if !failedZones[r.zone] {
				failedZones[r.zone] = true
				if len(failedZones) > len(pending)-zonesNeeded {
					return nil, fmt.Errorf("%d of %d zones failed, %d tolerated: %w", len(failedZones), len(pending), len(pending)-zonesNeeded, firstErr)
				}
			}
			continue
		}
		results = append(results, r.res)
		if !zonesUsed {
			if len(results) >= len(rs.Instances)-maxErrors {
				return results, nil
			}
			continue
		}
		pending[r.zone]--
		if pending[r.zone] == 0 && !failedZones[r.zone] {
			completeZones++
			if completeZones >= zonesNeeded {
				return results, nil
			}
		}
	}
	// Not reached: the loop returns once all calls are in.
	return results, nil
}

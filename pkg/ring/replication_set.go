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
	// Write: series go to ACTIVE instances; the set is extended past
	// JOINING and LEAVING ones.
	Write Operation = iota
	// Read: ACTIVE and LEAVING instances answer.
	Read
)

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
// results once all but the tolerated failures have succeeded; the calls still
// running then are cancelled. It fails when more calls fail than tolerated.
func (rs ReplicationSet) Do(ctx context.Context, f func(context.Context, *ringpb.InstanceDesc) (any, error)) ([]any, error) {
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
	need := len(rs.Instances) - rs.MaxErrors
	failedZones := map[string]struct{}{}
	zoneCount := map[string]int{}
	if zonesUsed {
		for _, inst := range rs.Instances {
			zoneCount[inst.Zone]++
		}
		need = len(rs.Instances)
	}

	var results []any
	errs := 0
	var firstErr error
	for range rs.Instances {
		r := <-ch
		if r.err != nil {
			errs++
			if firstErr == nil {
				firstErr = r.err
			}
			if zonesUsed {
				if _, ok := failedZones[r.zone]; !ok {
					failedZones[r.zone] = struct{}{}
					need -= zoneCount[r.zone]
				}
				if len(failedZones) > rs.MaxUnavailableZones {
					return nil, fmt.Errorf("%d zones failed, %d tolerated: %w", len(failedZones), rs.MaxUnavailableZones, firstErr)
				}
			} else if errs > rs.MaxErrors {
				return nil, fmt.Errorf("%d of %d instances failed, %d tolerated: %w", errs, len(rs.Instances), rs.MaxErrors, firstErr)
			}
			continue
		}
		results = append(results, r.res)
		if len(results) >= need {
			return results, nil
		}
	}
	return results, nil
}

package ingester

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// DeleteSeries deletes the calling tenant's samples in [start, end] of the
// series that match any of the request's matcher sets, as Prometheus's
// delete_series does: tsdb.DB.Delete per set, which tombstones the head
// (applied when it is compacted) and the local blocks. The blocks are then
// rewritten without the deleted samples (tsdb.DB.CleanTombstones), because
// the flusher copies a block's chunks to the store as they are, tombstones
// unread; the rewritten blocks are reported to the flusher like new ones.
// A tenant this ingester does not hold has nothing to delete. Repeating a
// deletion changes nothing.
func (i *Ingester) DeleteSeries(ctx context.Context, req *ingesterpb.DeleteSeriesRequest) (*ingesterpb.DeleteSeriesResponse, error) {
	sets, err := deleteMatchers(req)
	if err != nil {
		return nil, toStatus(err)
	}
	id, tdb, err := i.readTenant(ctx)
	if err != nil || tdb == nil {
		return &ingesterpb.DeleteSeriesResponse{}, toStatus(err)
	}
	defer releaseRead(tdb)
	for _, ms := range sets {
		if err := tdb.db.Delete(ctx, req.StartMs, req.EndMs, ms...); err != nil {
			return nil, toStatus(fmt.Errorf("deleting series: %w", err))
		}
	}
	tdb.maintMu.Lock()
	defer tdb.maintMu.Unlock()
	if err := tdb.db.CleanTombstones(); err != nil {
		return nil, toStatus(fmt.Errorf("rewriting blocks without the deleted samples: %w", err))
	}
	tdb.reportBlocks(i.dbs.flusher)
	i.logger.Info("Deleted series", "tenant", id, "start_ms", req.StartMs, "end_ms", req.EndMs, "selectors", len(sets))
	return &ingesterpb.DeleteSeriesResponse{}, nil
}

// deleteMatchers checks a deletion and converts its matcher sets; a bad
// one is an invalid argument.
func deleteMatchers(req *ingesterpb.DeleteSeriesRequest) ([][]*labels.Matcher, error) {
	if len(req.MatcherSets) == 0 {
		return nil, invalidArgumentError{errors.New("delete series needs at least one matcher set")}
	}
	if req.EndMs < req.StartMs {
		return nil, invalidArgumentError{fmt.Errorf("delete series: end %d is before start %d", req.EndMs, req.StartMs)}
	}
	sets := make([][]*labels.Matcher, 0, len(req.MatcherSets))
	for _, s := range req.MatcherSets {
		ms, err := toMatchers(s.Matchers)
		if err != nil {
			return nil, err
		}
		if len(ms) == 0 {
			return nil, invalidArgumentError{errors.New("delete series: an empty matcher set would delete every series")}
		}
		sets = append(sets, ms)
	}
	return sets, nil
}

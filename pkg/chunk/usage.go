package chunk

import (
	"context"
	"time"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// ChunkBytes returns the bytes of the chunk cells stored in tenant's
// bucket b: each cell once, so identical chunks flushed by several
// replicas (one column, see docs/schema.md) count once, and what
// retention or series deletion removed does not count. Index rows and
// row keys are not included. It reads every chunk row of the bucket.
func (s *Store) ChunkBytes(ctx context.Context, tenant string, b uint32) (int64, error) {
	if tenant == "" {
		return 0, widecolumn.ErrInvalidTenant
	}
	var n int64
	prefix := appendBucket(nil, tenant, b, kindChunks)
	err := s.timed().Read(ctx, widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{widecolumn.PrefixRange(prefix)}}, func(r widecolumn.Row) bool {
		for _, c := range r.Cells {
			n += int64(len(c.Value))
		}
		return true
	})
	return n, err
}

// FirstBucket returns tenant's oldest bucket; ok is false when the tenant
// has no row in the store.
func (s *Store) FirstBucket(ctx context.Context, tenant string) (bucket uint32, ok bool, err error) {
	return widecolumn.FirstBucket(ctx, s.timed(), widecolumn.Chunks, tenant)
}

// BucketOf returns the bucket holding time t.
func (s *Store) BucketOf(t time.Time) uint32 { return s.schema.bucketOf(max(t.UnixMilli(), 0)) }

// BucketEnd returns the end of bucket b, exclusive.
func (s *Store) BucketEnd(b uint32) time.Time { return time.UnixMilli(s.schema.bucketEnd(b) + 1) }

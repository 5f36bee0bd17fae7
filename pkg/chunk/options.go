package chunk

import (
	"errors"
	"fmt"
	"time"
)

// Options configure a [Store]. BucketPeriod, ChunkWindow and MaxRawKeyPart
// shape the row keys: they are part of the schema and must not change for
// data already written. PostingsShards may change at any time (reads scan
// every shard by prefix).
type Options struct {
	// BucketPeriod is the index bucket: every key starts with the tenant and
	// the bucket, so retention drops whole buckets. Default 24h, as Cortex:
	// one series row and one set of postings per series per day.
	BucketPeriod time.Duration
	// ChunkWindow is the span of one chunk row. Default 2h, the ingester's
	// block range, so a flushed block maps to one chunk row per series.
	// Must divide BucketPeriod.
	ChunkWindow time.Duration
	// PostingsShards splits the postings of one label value over this many
	// rows, so a value with millions of series does not make one huge row.
	// Default 16, as Cortex's v10 schema. At most 256.
	PostingsShards int
	// MaxRawKeyPart is the longest label name or value stored as is in a
	// key; longer ones are hashed. Default 256: keeps every key well under
	// Bigtable's 4 KiB with the default validation limits.
	MaxRawKeyPart int
	// MaxRowKeyBytes is the longest row key written. Default 4096, the
	// Bigtable limit (its emulator does not enforce it).
	MaxRowKeyBytes int

	// IndexCacheBytes bounds the cache of series, postings and label-name
	// rows. Default 256 MiB. 0 disables it.
	IndexCacheBytes int64
	// ChunkCacheBytes bounds the cache of chunk rows. Default 1 GiB, about
	// 24h of chunks for 100k series. 0 disables it.
	ChunkCacheBytes int64
	// WriteDedupeCacheBytes bounds the cache of series already written in a
	// bucket, which skips their series, postings and label-name writes.
	// Default 64 MiB, about 500k series-buckets. 0 disables it.
	WriteDedupeCacheBytes int64
	// CacheGrace is how long after a bucket's end it may still be written
	// (late flushes, out-of-order blocks, flush retries); read caches only
	// keep buckets older than that. Default 12h.
	CacheGrace time.Duration

	// QueryParallelism is the number of concurrent backend reads one query
	// issues. Default 16.
	QueryParallelism int

	// TombstoneCacheTTL is how long Select trusts a tenant's tombstones
	// (series deletions) it read, instead of one range read per Select. A
	// deletion through this Store is honoured at once; one through another
	// process within this time ([Store.SettleTombstones] waits it out).
	// Default 5s, the results-cache generation's TTL. 0 reads them on
	// every Select.
	TombstoneCacheTTL time.Duration
}

// DefaultOptions returns the defaults described on each field.
func DefaultOptions() Options {
	return Options{
		BucketPeriod:          24 * time.Hour,
		ChunkWindow:           2 * time.Hour,
		PostingsShards:        16,
		MaxRawKeyPart:         256,
		MaxRowKeyBytes:        4096,
		IndexCacheBytes:       256 << 20,
		ChunkCacheBytes:       1 << 30,
		WriteDedupeCacheBytes: 64 << 20,
		CacheGrace:            12 * time.Hour,
		QueryParallelism:      16,
		TombstoneCacheTTL:     5 * time.Second,
	}
}

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	if o.BucketPeriod < time.Millisecond || o.BucketPeriod%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("bucket period %s must be a positive whole number of milliseconds", o.BucketPeriod))
	}
	if o.ChunkWindow < time.Millisecond || o.ChunkWindow%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("chunk window %s must be a positive whole number of milliseconds", o.ChunkWindow))
	} else if o.BucketPeriod > 0 && o.BucketPeriod%o.ChunkWindow != 0 {
		errs = append(errs, fmt.Errorf("chunk window %s must divide bucket period %s", o.ChunkWindow, o.BucketPeriod))
	}
	if o.PostingsShards < 1 || o.PostingsShards > 256 {
		errs = append(errs, fmt.Errorf("postings shards %d must be in [1, 256]", o.PostingsShards))
	}
	if o.MaxRawKeyPart < hashedPartLen {
		errs = append(errs, fmt.Errorf("max raw key part %d must be at least %d", o.MaxRawKeyPart, hashedPartLen))
	}
	if o.MaxRowKeyBytes < 64 {
		errs = append(errs, fmt.Errorf("max row key bytes %d must be at least 64", o.MaxRowKeyBytes))
	}
	if o.IndexCacheBytes < 0 || o.ChunkCacheBytes < 0 || o.WriteDedupeCacheBytes < 0 {
		errs = append(errs, errors.New("cache sizes must not be negative"))
	}
	if o.CacheGrace < 0 {
		errs = append(errs, fmt.Errorf("cache grace %s must not be negative", o.CacheGrace))
	}
	if o.TombstoneCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("tombstone cache TTL %s must not be negative", o.TombstoneCacheTTL))
	}
	if o.QueryParallelism < 1 {
		errs = append(errs, fmt.Errorf("query parallelism %d must be at least 1", o.QueryParallelism))
	}
	return errors.Join(errs...)
}

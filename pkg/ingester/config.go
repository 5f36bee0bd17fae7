package ingester

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Config is the ingester's configuration. Per-tenant limits (series,
// exemplars, metadata, out-of-order window, per-query limits) are not here:
// they live in limits.Limits.
type Config struct {
	// Dir holds one TSDB directory per tenant, named after the tenant.
	Dir string `yaml:"dir"`
	// BlockRange is how much time one compacted block covers; the head is
	// compacted into blocks aligned on it.
	BlockRange model.Duration `yaml:"block_range"`
	// RetentionPeriod is how long a compacted block stays on local disk
	// after its end, once it has been flushed to the chunk store.
	RetentionPeriod model.Duration `yaml:"retention_period"`
	// HeadCompactionInterval is how often every tenant's head is checked
	// for a block range ready to be compacted.
	HeadCompactionInterval model.Duration `yaml:"head_compaction_interval"`
	// MetadataRetainPeriod is how long metric metadata is kept without
	// being pushed again.
	MetadataRetainPeriod model.Duration `yaml:"metadata_retain_period"`
	// WALCompression compresses WAL records: none, snappy or zstd.
	WALCompression string `yaml:"wal_compression"`
	// WALFsync fsyncs the WAL before a push is acknowledged.
	WALFsync bool `yaml:"wal_fsync"`
	// MinFreeDiskSpaceBytes is the free space under which pushes are
	// refused, so that the TSDB never runs out of disk (see
	// diskGuard).
	MinFreeDiskSpaceBytes int64 `yaml:"min_free_disk_space_bytes"`
	// TSDBStripeSize is the number of stripes of each tenant's head: its
	// series are sharded by ID and by label hash over that many maps,
	// each with its own lock.
	TSDBStripeSize int `yaml:"tsdb_stripe_size"`
	// InstanceLimits bound this ingester as a whole.
	InstanceLimits InstanceLimits `yaml:"instance_limits"`
}

// RegisterFlags registers the -ingester.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// The all-in-one binary passes <storage.dir>/ingester.
	f.StringVar(&c.Dir, "ingester.dir", "./data/ingester", "Directory of the ingester's per-tenant TSDBs (head, WAL and compacted blocks), one sub-directory per tenant.")
	// 2h, as Prometheus and Cortex: long enough for good chunk compression,
	// short enough to keep the head small.
	c.BlockRange = model.Duration(2 * time.Hour)
	f.Var(&c.BlockRange, "ingester.block-range", "Time range covered by one block compacted from a tenant's head.")
	// 13h: longer than the querier's 12h store cut-off, so recent data never
	// falls between the ingesters and the store. See -querier.query-store-after.
	c.RetentionPeriod = model.Duration(13 * time.Hour)
	f.Var(&c.RetentionPeriod, "ingester.retention-period", "How long a compacted block is kept on local disk after its end time, once flushed to the chunk store. Keep it longer than -querier.query-store-after.")
	// 1m, as Cortex: a block range is compacted at most a minute late.
	c.HeadCompactionInterval = model.Duration(time.Minute)
	f.Var(&c.HeadCompactionInterval, "ingester.head-compaction-interval", "How often every tenant's head is checked for data to compact into a block. See -ingester.block-range.")
	// 10m, as Cortex: scrapes send metadata at least that often.
	c.MetadataRetainPeriod = model.Duration(10 * time.Minute)
	f.Var(&c.MetadataRetainPeriod, "ingester.metadata-retain-period", "How long metric metadata is kept in memory after it was last pushed.")
	// snappy: see BenchmarkWALReplay for the measured trade-off.
	f.StringVar(&c.WALCompression, "ingester.wal-compression", "snappy", "Compression of WAL records: none, snappy or zstd. Existing WALs replay whatever their compression.")
	// Off, as Prometheus and Cortex: write(2) survives a crash of the
	// process, and replication covers the loss of one machine.
	f.BoolVar(&c.WALFsync, "ingester.wal-fsync", false, "Fsync a tenant's WAL before acknowledging a push, so that acknowledged samples survive a power loss of the machine, not only a crash of the process. Concurrent pushes of a tenant share one fsync. Costs an fsync per push: see BenchmarkPushWAL.")
	// 1024: a stripe costs ~250 bytes per tenant whether it holds series or
	// not, so Prometheus's 16384 (sized for one large TSDB) costs 4 MiB per
	// tenant; 1024 costs 250 KiB. A stripe's lock is held for one map
	// operation (and by the head GC while it walks the stripe's series):
	// BenchmarkPushParallel measures no difference down to 16 stripes on
	// 2 cores. 1024 leaves room for many cores pushing to one tenant: two
	// concurrent series lookups take the same lock once in ~1,000.
	f.IntVar(&c.TSDBStripeSize, "ingester.tsdb-stripe-size", 1024, "Number of stripes of each tenant's in-memory series map, a power of 2: series are sharded over that many maps, each with its own lock. A stripe costs about 250 bytes per tenant whether it holds series or not (16384, the Prometheus and Cortex default, costs 4 MiB per tenant); fewer stripes mean more lock contention between concurrent pushes of one large tenant. See the README's 'Sizing ingesters' for the measured trade-off.")
	f.IntVar(&c.InstanceLimits.MaxSeries, "ingester.instance-limits.max-series", 0, "Maximum in-memory series in this ingester, all tenants together; a push that would create more gets a retryable error (HTTP 5xx at the distributor), never an out-of-memory crash. 0 disables. See also -ingester.max-series-per-tenant.")
	f.IntVar(&c.InstanceLimits.MaxInflightPushRequests, "ingester.instance-limits.max-inflight-push-requests", 0, "Maximum push requests this ingester handles at once; more get a retryable error (HTTP 5xx at the distributor). 0 disables. See also -distributor.instance-limits.max-inflight-push-requests.")
	f.IntVar(&c.InstanceLimits.MaxTenants, "ingester.instance-limits.max-tenants", 0, "Maximum tenants with data in this ingester; a push of a further tenant gets a retryable error (HTTP 5xx at the distributor). Each tenant's TSDB holds about 0.6 MiB of memory with a few series, 7 MiB once it has sent exemplars (see -ingester.max-exemplars, -ingester.tsdb-stripe-size). 0 disables.")
	// 256 MiB: room for the TSDB to repair a torn WAL segment (it rewrites
	// up to one 128 MiB segment), to preallocate a compacted block's chunk
	// file (64 MiB) and to write head chunks of samples already accepted.
	// The TSDB panics when it cannot write head chunks.
	f.Int64Var(&c.MinFreeDiskSpaceBytes, "ingester.min-free-disk-space-bytes", 256<<20, "Free space, in bytes, under which the filesystem of -ingester.dir is too full to take writes: pushes get a retryable error (HTTP 5xx at the distributor) until space is freed; reads go on. 0 disables (the ingester may then crash when the disk fills up).")
}

// InstanceLimits protect one ingester whatever the tenants do.
type InstanceLimits struct {
	MaxSeries               int `yaml:"max_series"`
	MaxInflightPushRequests int `yaml:"max_inflight_push_requests"`
	MaxTenants              int `yaml:"max_tenants"`
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("ingester.dir must be set"))
	}
	positive := []struct {
		name string
		v    model.Duration
	}{
		{"ingester.block-range", c.BlockRange},
		{"ingester.retention-period", c.RetentionPeriod},
		{"ingester.head-compaction-interval", c.HeadCompactionInterval},
		{"ingester.metadata-retain-period", c.MetadataRetainPeriod},
	}
	for _, p := range positive {
		if p.v <= 0 {
			errs = append(errs, fmt.Errorf("%s is %s, must be positive", p.name, p.v))
		}
	}
	switch c.WALCompression {
	case "none", "snappy", "zstd":
	default:
		errs = append(errs, fmt.Errorf("ingester.wal-compression is %q, must be none, snappy or zstd", c.WALCompression))
	}
	nonNegative := []struct {
		name string
		v    int64
	}{
		{"ingester.min-free-disk-space-bytes", c.MinFreeDiskSpaceBytes},
		{"ingester.instance-limits.max-series", int64(c.InstanceLimits.MaxSeries)},
		{"ingester.instance-limits.max-inflight-push-requests", int64(c.InstanceLimits.MaxInflightPushRequests)},
		{"ingester.instance-limits.max-tenants", int64(c.InstanceLimits.MaxTenants)},
	}
	for _, n := range nonNegative {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s is %d, must not be negative", n.name, n.v))
		}
	}
	if n := c.TSDBStripeSize; n <= 0 || n&(n-1) != 0 {
		errs = append(errs, fmt.Errorf("ingester.tsdb-stripe-size is %d, must be a power of 2", n))
	}
	if c.BlockRange > 0 && time.Duration(c.BlockRange)%time.Minute != 0 {
		errs = append(errs, fmt.Errorf("ingester.block-range is %s, must be a whole number of minutes", c.BlockRange))
	}
	if c.BlockRange > 0 && c.RetentionPeriod > 0 && c.RetentionPeriod < c.BlockRange {
		errs = append(errs, fmt.Errorf("ingester.retention-period (%s) must not be shorter than ingester.block-range (%s)", c.RetentionPeriod, c.BlockRange))
	}
	return errors.Join(errs...)
}

package querier

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config is the querier's configuration. The YAML key of each field is its
// flag name after "querier.", in snake case.
type Config struct {
	// Timeout bounds one query's evaluation.
	Timeout time.Duration `yaml:"timeout"`
	// MaxSamples bounds the samples one query may hold in memory at once.
	MaxSamples int `yaml:"max_samples"`
	// LookbackDelta is how far back an instant selector looks for a sample.
	LookbackDelta time.Duration `yaml:"lookback_delta"`
	// MaxConcurrent bounds the queries the engine evaluates at once; the
	// others wait.
	MaxConcurrent int `yaml:"max_concurrent"`
	// HTTPPrefix is the path the Prometheus API is served under
	// (<prefix>/api/v1/...).
	HTTPPrefix string `yaml:"http_prefix"`
	// QueryIngestersWithin is how recent a query's end must be for the
	// ingesters to be asked, when a chunk store is configured. 0 asks them
	// always.
	QueryIngestersWithin time.Duration `yaml:"query_ingesters_within"`
	// QueryStoreAfter is how old data must be for the chunk store to be
	// asked for it: the store reads only the part of a query's range before
	// now minus this. 0 asks the store for the whole range.
	QueryStoreAfter time.Duration `yaml:"query_store_after"`
}

// RegisterFlags registers the querier's flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 2m, as in Prometheus (--query.timeout) and Cortex.
	f.DurationVar(&c.Timeout, "querier.timeout", 2*time.Minute, "Maximum time one query may take to evaluate; past it the API answers 503 timeout.")
	// 20M, not Prometheus's and Cortex's 50M: a held sample costs about 20 B
	// of heap (BenchmarkQueryMemoryPerSample), so 20M bound one query to
	// about 400 MiB of samples, and -querier.max-concurrent (20) queries to
	// about 8 GiB; 20M still hold 1,800 series at a range query's 11,000
	// points (docs/security.md).
	f.IntVar(&c.MaxSamples, "querier.max-samples", 20_000_000, "Maximum number of samples one query may hold in memory at once, for every tenant; past it the API answers 422 execution. Each costs about 20 bytes of heap (docs/security.md). See also -querier.max-series-per-query and the per-tenant -querier.max-query-steps.")
	// 5m, as in Prometheus (--query.lookback-delta).
	f.DurationVar(&c.LookbackDelta, "querier.lookback-delta", 5*time.Minute, "How far back an instant vector selector looks for the latest sample of a series.")
	// 20, as in Prometheus (--query.max-concurrency) and Cortex.
	f.IntVar(&c.MaxConcurrent, "querier.max-concurrent", 20, "Maximum number of queries evaluated at once by one querier; further queries wait (up to -querier.timeout).")
	// /prometheus, so Grafana's Prometheus datasource points at http://host:port/prometheus.
	// 13h, as in Cortex: ingesters keep their head (12h with 2h blocks, up to
	// 3h more until the flushed block reaches the store) plus an hour of margin.
	f.DurationVar(&c.QueryIngestersWithin, "querier.query-ingesters-within", 13*time.Hour, "With a chunk store, ingesters are asked only when a query's end is within this of now. 0 asks them for every query. Must be greater than -querier.query-store-after.")
	// 12h, as in Cortex: ingesters flush a block to the store within a few hours
	// of its end, so the store is complete for data older than this.
	f.DurationVar(&c.QueryStoreAfter, "querier.query-store-after", 12*time.Hour, "The chunk store is asked only for the part of a query's range older than now minus this; newer data comes from the ingesters only. 0 asks the store for the whole range. Must be less than -querier.query-ingesters-within.")
	f.StringVar(&c.HTTPPrefix, "querier.http-prefix", "/prometheus", "Path prefix of the Prometheus HTTP API; the API is served at <prefix>/api/v1/.... Empty serves it at /api/v1.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("querier.timeout is %s, must be positive", c.Timeout))
	}
	if c.MaxSamples <= 0 {
		errs = append(errs, fmt.Errorf("querier.max-samples is %d, must be positive", c.MaxSamples))
	}
	if c.LookbackDelta <= 0 {
		errs = append(errs, fmt.Errorf("querier.lookback-delta is %s, must be positive", c.LookbackDelta))
	}
	if c.MaxConcurrent <= 0 {
		errs = append(errs, fmt.Errorf("querier.max-concurrent is %d, must be positive", c.MaxConcurrent))
	}
	if c.HTTPPrefix != "" && (!strings.HasPrefix(c.HTTPPrefix, "/") || strings.HasSuffix(c.HTTPPrefix, "/")) {
		errs = append(errs, fmt.Errorf("querier.http-prefix is %q, must be empty or start and not end with /", c.HTTPPrefix))
	}
	if c.QueryIngestersWithin < 0 {
		errs = append(errs, fmt.Errorf("querier.query-ingesters-within is %s, must not be negative", c.QueryIngestersWithin))
	}
	if c.QueryStoreAfter < 0 {
		errs = append(errs, fmt.Errorf("querier.query-store-after is %s, must not be negative", c.QueryStoreAfter))
	}
	if c.QueryIngestersWithin > 0 && c.QueryStoreAfter > 0 && c.QueryStoreAfter >= c.QueryIngestersWithin {
		// Data between now-query-ingesters-within and now-query-store-after
		// would be read from neither.
		errs = append(errs, fmt.Errorf("querier.query-store-after (%s) must be less than querier.query-ingesters-within (%s), or data in between is read from neither source", c.QueryStoreAfter, c.QueryIngestersWithin))
	}
	return errors.Join(errs...)
}

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
}

// RegisterFlags registers the querier's flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 2m, as in Prometheus (--query.timeout) and Cortex.
	f.DurationVar(&c.Timeout, "querier.timeout", 2*time.Minute, "Maximum time one query may take to evaluate; past it the API answers 503 timeout.")
	// 50M, as in Prometheus (--query.max-samples) and Cortex.
	f.IntVar(&c.MaxSamples, "querier.max-samples", 50_000_000, "Maximum number of samples one query may load into memory at once; past it the API answers 422 execution. See also -querier.max-series-per-query.")
	// 5m, as in Prometheus (--query.lookback-delta).
	f.DurationVar(&c.LookbackDelta, "querier.lookback-delta", 5*time.Minute, "How far back an instant vector selector looks for the latest sample of a series.")
	// 20, as in Prometheus (--query.max-concurrency) and Cortex.
	f.IntVar(&c.MaxConcurrent, "querier.max-concurrent", 20, "Maximum number of queries evaluated at once by one querier; further queries wait (up to -querier.timeout).")
	// /prometheus, so Grafana's Prometheus datasource points at http://host:port/prometheus.
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
	return errors.Join(errs...)
}

package flusher

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config is the flusher's configuration. It lives in the ingester's section
// (YAML `ingester: flush_concurrency`).
type Config struct {
	// Concurrency is the number of blocks flushed at once.
	Concurrency int `yaml:"flush_concurrency"`
	// OpTimeout bounds one write of a batch of series to the store. The
	// Bigtable client retries an unreachable backend for as long as its
	// context lasts: without a deadline an outage would hang the attempt
	// instead of failing it, retrying it with backoff and showing it in
	// hearth_ingester_flush_failures_total.
	OpTimeout time.Duration `yaml:"flush_op_timeout"`
}

// RegisterFlags registers -ingester.flush-concurrency.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 4: blocks of different tenants go out in parallel while a large one
	// is written, without opening more than a few blocks at once (each
	// worker holds one block's index and chunks open).
	f.IntVar(&c.Concurrency, "ingester.flush-concurrency", 4, "Number of compacted blocks written to the chunk store at once. See -ingester.block-range.")
	f.DurationVar(&c.OpTimeout, "ingester.flush-op-timeout", time.Minute, "Timeout of one write of a batch of series to the chunk store; a write that times out fails the flush attempt, which is retried with backoff.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("ingester.flush-concurrency is %d, must be positive", c.Concurrency))
	}
	if c.OpTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ingester.flush-op-timeout is %s, must be positive", c.OpTimeout))
	}
	return errors.Join(errs...)
}

package flusher

import (
	"errors"
	"flag"
	"fmt"
)

// Config is the flusher's configuration. It lives in the ingester's section
// (YAML `ingester: flush_concurrency`).
type Config struct {
	// Concurrency is the number of blocks flushed at once.
	Concurrency int `yaml:"flush_concurrency"`
}

// RegisterFlags registers -ingester.flush-concurrency.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 4: blocks of different tenants go out in parallel while a large one
	// is written, without opening more than a few blocks at once (each
	// worker holds one block's index and chunks open).
	f.IntVar(&c.Concurrency, "ingester.flush-concurrency", 4, "Number of compacted blocks written to the chunk store at once. See -ingester.block-range.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("ingester.flush-concurrency is %d, must be positive", c.Concurrency))
	}
	return errors.Join(errs...)
}

package retention

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
)

// Config is the retention service's configuration (YAML section `store`).
// The retention period itself is a per-tenant limit:
// -store.retention-period.
type Config struct {
	// Interval is how often expired buckets are dropped.
	Interval model.Duration `yaml:"retention_interval"`
}

// RegisterFlags registers -store.retention-interval.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 1h: buckets are 24h, so data outlives its retention by at most a
	// bucket plus an hour; a run costs one read per tenant.
	c.Interval = model.Duration(time.Hour)
	f.Var(&c.Interval, "store.retention-interval", "How often chunk store buckets older than each tenant's -store.retention-period are dropped.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("store.retention-interval is %s, must be positive", c.Interval))
	}
	return errors.Join(errs...)
}

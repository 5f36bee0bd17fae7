package hatracker

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config is the HA tracker's configuration; which tenants are deduplicated
// and by which labels are per-tenant limits (accept_ha_samples,
// ha_cluster_label, ha_replica_label, ha_max_clusters). Its flags are
// -distributor.ha-tracker.*; the YAML section is `distributor: ha_tracker:`.
type Config struct {
	Enable                 bool          `yaml:"enable"`
	UpdateTimeout          time.Duration `yaml:"update_timeout"`
	UpdateTimeoutJitterMax time.Duration `yaml:"update_timeout_jitter_max"`
	FailoverTimeout        time.Duration `yaml:"failover_timeout"`
}

// RegisterFlags registers the flags with their defaults (Cortex's).
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enable, "distributor.ha-tracker.enable", false, "Run the HA tracker, so tenants with -distributor.accept-ha-samples get their HA Prometheus pairs deduplicated. Elections are shared through the memberlist KV (-memberlist.join).")
	// 15s: the elected replica's timestamp in the KV is refreshed that
	// often at most, which bounds the gossip traffic per cluster.
	f.DurationVar(&c.UpdateTimeout, "distributor.ha-tracker.update-timeout", 15*time.Second, "How often at most a distributor records in the KV that the elected replica is still sending.")
	// 5s of jitter spreads the distributors' refreshes of one cluster.
	f.DurationVar(&c.UpdateTimeoutJitterMax, "distributor.ha-tracker.update-timeout-jitter-max", 5*time.Second, "Maximum random time added to -distributor.ha-tracker.update-timeout, per distributor.")
	// 30s: two refresh periods, so one late refresh does not fail over.
	f.DurationVar(&c.FailoverTimeout, "distributor.ha-tracker.failover-timeout", 30*time.Second, "After this long without a push from the elected replica, the next push from another replica of the cluster elects it. Must exceed -distributor.ha-tracker.update-timeout plus its jitter.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.UpdateTimeout <= 0 {
		errs = append(errs, fmt.Errorf("distributor.ha-tracker.update-timeout is %s, must be positive", c.UpdateTimeout))
	}
	if c.UpdateTimeoutJitterMax < 0 {
		errs = append(errs, fmt.Errorf("distributor.ha-tracker.update-timeout-jitter-max is %s, must not be negative", c.UpdateTimeoutJitterMax))
	}
	if c.FailoverTimeout <= c.UpdateTimeout+c.UpdateTimeoutJitterMax {
		errs = append(errs, fmt.Errorf("distributor.ha-tracker.failover-timeout (%s) must exceed update-timeout plus update-timeout-jitter-max (%s)",
			c.FailoverTimeout, c.UpdateTimeout+c.UpdateTimeoutJitterMax))
	}
	return errors.Join(errs...)
}

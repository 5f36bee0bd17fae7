package usage

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// Config configures the ledger.
type Config struct {
	// PersistInterval is how often the ledger writes its totals: the most a
	// crash can lose.
	PersistInterval time.Duration `yaml:"persist_interval" category:"advanced"`
	// InstanceID names this process's rows; it must be unique among the
	// processes writing to one table and stable across restarts.
	InstanceID string `yaml:"instance_id" category:"advanced"`
}

// maxInstanceIDBytes bounds the instance ID, which is part of a row key.
const maxInstanceIDBytes = 256

// RegisterFlags registers the -usage.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	host, _ := os.Hostname()
	f.DurationVar(&c.PersistInterval, "usage.persist-interval", 15*time.Second, "How often each process writes its per-tenant usage ledger (docs/usage.md) to the store; a crash loses at most this much of the process's counting. A graceful stop writes it once more after the last request. See also -usage.instance-id.")
	f.StringVar(&c.InstanceID, "usage.instance-id", host, "Names this process's rows of the usage ledger: unique among the cluster's processes and stable across restarts, so a restarted process continues its counters. Default: the hostname.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.PersistInterval < time.Second {
		errs = append(errs, fmt.Errorf("-usage.persist-interval=%s: must be at least 1s", c.PersistInterval))
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("-usage.instance-id: empty (the hostname could not be read)"))
	}
	if len(c.InstanceID) > maxInstanceIDBytes {
		errs = append(errs, fmt.Errorf("-usage.instance-id: %d bytes, at most %d", len(c.InstanceID), maxInstanceIDBytes))
	}
	return errors.Join(errs...)
}

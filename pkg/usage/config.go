package usage

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// Config configures the ledger.
type Config struct {
	// PersistInterval is how often the ledger writes its totals: the most a
	// crash can lose.
	PersistInterval time.Duration `yaml:"persist_interval"`
	// InstanceID names this process's rows; it must be unique among the
	// processes writing to one table and stable across restarts.
	InstanceID string `yaml:"instance_id"`
	// StoreScanInterval is how often the tenants' stored bytes are
	// measured from the chunk store (see [Sizer]).
	StoreScanInterval time.Duration `yaml:"store_scan_interval"`
}

// maxInstanceIDBytes bounds the instance ID, which is part of a row key.
const maxInstanceIDBytes = 256

// RegisterFlags registers the -usage.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	host, _ := os.Hostname()
	f.DurationVar(&c.PersistInterval, "usage.persist-interval", 15*time.Second, "How often each process writes its per-tenant usage ledger (docs/usage.md) to the store; a crash loses at most this much of the process's counting. A graceful stop writes it once more after the last request. See also -usage.instance-id.")
	f.DurationVar(&c.StoreScanInterval, "usage.store-scan-interval", time.Hour, "How often the processes running the querier (and the retention enforcer) measure each tenant's bytes in the chunk store (hearth_store_chunk_bytes in the usage ledger): each bucket of the store is read until it has settled, 48h after its end, then kept. See also -store.retention-interval.")
	f.StringVar(&c.InstanceID, "usage.instance-id", host, "Names this process's rows of the usage ledger: unique among the cluster's processes and stable across restarts, so a restarted process continues its counters. Default: -ingester.ring.instance-id when that is set, else the hostname.")
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
	if c.StoreScanInterval < time.Second {
		errs = append(errs, fmt.Errorf("-usage.store-scan-interval=%s: must be at least 1s", c.StoreScanInterval))
	}
	if strings.HasPrefix(c.InstanceID, "\x00") {
		errs = append(errs, errors.New("-usage.instance-id: must not start with a NUL byte"))
	}
	if len(c.InstanceID) > maxInstanceIDBytes {
		errs = append(errs, fmt.Errorf("-usage.instance-id: %d bytes, at most %d", len(c.InstanceID), maxInstanceIDBytes))
	}
	return errors.Join(errs...)
}

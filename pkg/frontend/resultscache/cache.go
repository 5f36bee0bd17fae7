package resultscache

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Cache is a results-cache backend. Implementations are safe for concurrent
// use; Fetch's values belong to the caller, and Store does not keep value
// beyond the call unless it copies it.
type Cache interface {
	// Fetch returns the values found for keys; a key missing from the
	// result is a miss (or an error, counted and logged by the backend).
	Fetch(ctx context.Context, keys []string) map[string][]byte
	// Store writes value under key, best effort.
	Store(ctx context.Context, key string, value []byte)
}

// Backends.
const (
	BackendInMemory  = "inmemory"
	BackendMemcached = "memcached"
)

// TTL is how long an entry lives in memcached. Entries are keyed by the
// tenant's cache generation, so a deletion never needs them to expire; the
// TTL only returns space held by queries nobody repeats.
const TTL = 7 * 24 * time.Hour

// Config selects and sizes the backend.
type Config struct {
	// Backend is inmemory or memcached.
	Backend string `yaml:"backend"`
	// MaxSizeBytes bounds the in-process cache.
	MaxSizeBytes int64 `yaml:"max_size_bytes"`
	// Memcached configures the memcached client.
	Memcached MemcachedConfig `yaml:"memcached"`
}

// MemcachedConfig configures the memcached client.
type MemcachedConfig struct {
	// Addresses is a comma-separated list of host:port.
	Addresses string `yaml:"addresses"`
	// Timeout bounds each read and write on a connection, and dialling.
	Timeout time.Duration `yaml:"timeout"`
	// MaxIdleConnections per server.
	MaxIdleConnections int `yaml:"max_idle_connections"`
	// MaxItemSizeBytes skips entries larger than the server's item size
	// limit (memcached's -I, 1 MiB by default) instead of sending them.
	MaxItemSizeBytes int `yaml:"max_item_size_bytes"`
}

// RegisterFlagsWithPrefix registers the flags under prefix (for the
// frontend, "frontend.results-cache.").
func (c *Config) RegisterFlagsWithPrefix(prefix string, f *flag.FlagSet) {
	f.StringVar(&c.Backend, prefix+"backend", BackendInMemory, "Results-cache backend: inmemory (in this process, bounded by -"+prefix+"max-size-bytes) or memcached (shared by every frontend; see -"+prefix+"memcached.addresses).")
	f.Int64Var(&c.MaxSizeBytes, prefix+"max-size-bytes", 256<<20, "Maximum size of the in-process results cache, in bytes of compressed entries and their keys.")
	f.StringVar(&c.Memcached.Addresses, prefix+"memcached.addresses", "", "Comma-separated memcached servers (host:port) for -"+prefix+"backend=memcached.")
	f.DurationVar(&c.Memcached.Timeout, prefix+"memcached.timeout", 200*time.Millisecond, "Timeout of each memcached dial, read and write; a slow cache is a miss.")
	f.IntVar(&c.Memcached.MaxIdleConnections, prefix+"memcached.max-idle-connections", 16, "Idle connections kept per memcached server.")
	f.IntVar(&c.Memcached.MaxItemSizeBytes, prefix+"memcached.max-item-size-bytes", 1<<20, "Largest entry written to memcached; match the servers' -I (1 MiB by default). Larger results are not cached.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	switch c.Backend {
	case BackendInMemory:
		if c.MaxSizeBytes <= 0 {
			errs = append(errs, fmt.Errorf("results cache max-size-bytes is %d, must be positive", c.MaxSizeBytes))
		}
	case BackendMemcached:
		if strings.TrimSpace(c.Memcached.Addresses) == "" {
			errs = append(errs, errors.New("results cache backend memcached needs memcached.addresses"))
		}
		if c.Memcached.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("results cache memcached.timeout is %s, must be positive", c.Memcached.Timeout))
		}
	default:
		errs = append(errs, fmt.Errorf("results cache backend %q is neither %s nor %s", c.Backend, BackendInMemory, BackendMemcached))
	}
	return errors.Join(errs...)
}

// New builds the backend cfg names.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Backend == BackendMemcached {
		return NewMemcached(cfg.Memcached, logger, reg)
	}
	return NewInMemory(cfg.MaxSizeBytes, reg), nil
}

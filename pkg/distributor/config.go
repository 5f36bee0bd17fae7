package distributor

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config is the distributor's configuration. Per-tenant validation limits
// live in pkg/limits.
type Config struct {
	// MaxRecvMsgSize bounds a push's decompressed body. The same value is
	// the ingester clients' maximum send size (see GRPCMaxSendMsgSize), so
	// what the HTTP edge accepts can be forwarded.
	MaxRecvMsgSize int `yaml:"max_recv_msg_size"`
	// RemoteTimeout bounds every Push to an ingester, detached ones
	// included.
	RemoteTimeout time.Duration `yaml:"remote_timeout"`
	// InstanceLimits protect this process whatever the tenants do.
	InstanceLimits InstanceLimits `yaml:"instance_limits"`
}

// RegisterFlags registers the flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 100 MiB is Cortex's default; Prometheus sends far less (~2,000
	// series, a few hundred KiB).
	f.IntVar(&c.MaxRecvMsgSize, "distributor.max-recv-msg-size", 100<<20, "Maximum decompressed size of a remote-write request, in bytes; larger ones get 413. Also the maximum size of a Push the distributor sends to an ingester, whose -ingester gRPC receive limit must be at least as large.")
	// 2s is Cortex's default: a push waits for a quorum, not for the
	// slowest replica.
	f.DurationVar(&c.RemoteTimeout, "distributor.remote-timeout", 2*time.Second, "Timeout of each Push to an ingester, including the pushes to the replicas that finish after the request returned.")
	c.InstanceLimits.RegisterFlags(f)
}

// Validate reports every invalid field.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxRecvMsgSize <= 0 {
		errs = append(errs, fmt.Errorf("distributor.max-recv-msg-size is %d, must be positive", c.MaxRecvMsgSize))
	}
	if c.RemoteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("distributor.remote-timeout is %s, must be positive", c.RemoteTimeout))
	}
	errs = append(errs, c.InstanceLimits.Validate()...)
	return errors.Join(errs...)
}

// GRPCMaxSendMsgSize is the maximum message size the distributor's ingester
// client pool must allow: the HTTP limit, so both agree.
func (c *Config) GRPCMaxSendMsgSize() int { return c.MaxRecvMsgSize }

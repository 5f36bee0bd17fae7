package distributor

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/hearthmetrics/hearth/proto/ingesterpb"
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
	// MaxSeriesPerRequest and MaxLabelsPerRequest bound what decoding one
	// push may allocate, checked while decoding: an empty series or label
	// takes 2 bytes on the wire and tens of bytes decoded. They protect the
	// process before any tenant limit can apply, so they are instance
	// flags, not per-tenant limits.
	MaxSeriesPerRequest int `yaml:"max_series_per_request"`
	MaxLabelsPerRequest int `yaml:"max_labels_per_request"`
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
	// Prometheus sends at most 2,000 series (max_samples_per_send) of a
	// few dozen labels per request; 100,000 series and 1,000,000 labels
	// (~3 MiB and ~32 MiB decoded) leave room for batching agents.
	f.IntVar(&c.MaxSeriesPerRequest, "distributor.max-series-per-request", 100_000, "Maximum series in one remote-write request, counted while decoding; more get 413 naming the count. 0 disables. See also -distributor.max-labels-per-request.")
	f.IntVar(&c.MaxLabelsPerRequest, "distributor.max-labels-per-request", 1_000_000, "Maximum label pairs in one remote-write request, series and exemplar labels together, counted while decoding; more get 413 naming the count. 0 disables. Labels per series are a per-tenant limit: -validation.max-label-names-per-series.")
	c.InstanceLimits.RegisterFlags(f)
}

func (c *Config) decodeLimits() ingesterpb.DecodeLimits {
	return ingesterpb.DecodeLimits{MaxSeries: c.MaxSeriesPerRequest, MaxLabels: c.MaxLabelsPerRequest}
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
	if c.MaxSeriesPerRequest < 0 {
		errs = append(errs, fmt.Errorf("distributor.max-series-per-request is %d, must not be negative", c.MaxSeriesPerRequest))
	}
	if c.MaxLabelsPerRequest < 0 {
		errs = append(errs, fmt.Errorf("distributor.max-labels-per-request is %d, must not be negative", c.MaxLabelsPerRequest))
	}
	errs = append(errs, c.InstanceLimits.Validate()...)
	return errors.Join(errs...)
}

// GRPCMaxSendMsgSize is the maximum message size the distributor's ingester
// client pool must allow: the HTTP limit, so both agree.
func (c *Config) GRPCMaxSendMsgSize() int { return c.MaxRecvMsgSize }

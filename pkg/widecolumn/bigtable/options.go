package bigtable

import (
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigtable"
	"google.golang.org/api/option"
)

// Options configure the Bigtable backend.
type Options struct {
	// Project, Instance and Table name the table. Required.
	Project, Instance, Table string
	// CreateTable creates the table and its column family when missing.
	// Needs admin rights; default false, as production tables are usually
	// created by the operator (with the right replication and GC policy).
	CreateTable bool
	// ClientOptions are passed to both the data and the admin client
	// (credentials, endpoint, or option.WithGRPCConn in tests).
	ClientOptions []option.ClientOption
	// ClientConfig configures the data client (app profile, built-in
	// client metrics).
	ClientConfig bigtable.ClientConfig

	// MaxMutationsPerCall bounds the mutations of one ApplyBulk call.
	// Default 100,000, Bigtable's limit.
	MaxMutationsPerCall int
	// MaxBytesPerCall bounds the bytes of one ApplyBulk call. Default
	// 64 MiB, well under Bigtable's 256 MiB request limit.
	MaxBytesPerCall int
	// ReadBatchSize is the number of keys or ranges per ReadRows call.
	// Default 100, as Cortex's column-key client.
	ReadBatchSize int
	// ReadParallelism is the number of ReadRows calls one Read runs at
	// once. Default 8.
	ReadParallelism int
	// MaxRetries is the number of retries of a call that failed with a
	// transient error. Default 8.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// retries. Defaults 100ms and 10s.
	MinBackoff, MaxBackoff time.Duration
}

// DefaultOptions returns the defaults described on each field, without the
// table's name.
func DefaultOptions() Options {
	return Options{
		MaxMutationsPerCall: 100_000,
		MaxBytesPerCall:     64 << 20,
		ReadBatchSize:       100,
		ReadParallelism:     8,
		MaxRetries:          8,
		MinBackoff:          100 * time.Millisecond,
		MaxBackoff:          10 * time.Second,
	}
}

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	if o.Project == "" || o.Instance == "" || o.Table == "" {
		errs = append(errs, errors.New("bigtable project, instance and table must be set"))
	}
	if o.MaxMutationsPerCall < 1 || o.MaxMutationsPerCall > 100_000 {
		errs = append(errs, fmt.Errorf("max mutations per call %d must be in [1, 100000]", o.MaxMutationsPerCall))
	}
	if o.MaxBytesPerCall < 1 {
		errs = append(errs, fmt.Errorf("max bytes per call %d must be positive", o.MaxBytesPerCall))
	}
	if o.ReadBatchSize < 1 {
		errs = append(errs, fmt.Errorf("read batch size %d must be positive", o.ReadBatchSize))
	}
	if o.ReadParallelism < 1 {
		errs = append(errs, fmt.Errorf("read parallelism %d must be positive", o.ReadParallelism))
	}
	if o.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries %d must not be negative", o.MaxRetries))
	}
	if o.MinBackoff <= 0 || o.MaxBackoff < o.MinBackoff {
		errs = append(errs, fmt.Errorf("backoff [%s, %s] must be positive and ordered", o.MinBackoff, o.MaxBackoff))
	}
	return errors.Join(errs...)
}

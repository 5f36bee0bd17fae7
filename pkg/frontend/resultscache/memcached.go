package resultscache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Memcached is a cache on memcached servers; keys are spread over them by
// gomemcache's server selector.
type Memcached struct {
	client      *memcache.Client
	maxItemSize int
	logger      *slog.Logger
	errors      *prometheus.CounterVec
	skipped     prometheus.Counter
}

var _ Cache = (*Memcached)(nil)

// NewMemcached returns a client of the servers in cfg. It does not dial
// until first used.
func NewMemcached(cfg MemcachedConfig, logger *slog.Logger, reg prometheus.Registerer) (*Memcached, error) {
	var addrs []string
	for a := range strings.SplitSeq(cfg.Addresses, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("no memcached addresses (-frontend.results-cache.memcached.addresses)")
	}
	ss := &memcache.ServerList{}
	if err := ss.SetServers(addrs...); err != nil {
		return nil, fmt.Errorf("resolving memcached servers %q: %w", cfg.Addresses, err)
	}
	c := memcache.NewFromSelector(ss)
	c.Timeout = cfg.Timeout
	c.MaxIdleConns = cfg.MaxIdleConnections
	f := promauto.With(reg)
	return &Memcached{
		client:      c,
		maxItemSize: cfg.MaxItemSizeBytes,
		logger:      logger,
		errors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_errors_total",
			Help: "Failed results-cache operations on memcached, by operation; a failed fetch is a miss, a failed store is dropped.",
		}, []string{"operation"}),
		skipped: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_skipped_items_total",
			Help: "Results not written to memcached because they exceed -frontend.results-cache.memcached.max-item-size-bytes.",
		}),
	}, nil
}

// Fetch reads keys with one get per server.
func (m *Memcached) Fetch(ctx context.Context, keys []string) map[string][]byte {
	found := map[string][]byte{}
	if len(keys) == 0 || ctx.Err() != nil {
		return found
	}
	items, err := m.client.GetMulti(keys)
	if err != nil {
		m.errors.WithLabelValues("fetch").Inc()
		m.logger.Warn("Reading the results cache failed", "err", err)
	}
	for k, it := range items {
		found[k] = it.Value
	}
	return found
}

// Store writes value unless it is too large for the servers.
func (m *Memcached) Store(ctx context.Context, key string, value []byte) {
	if ctx.Err() != nil {
		return
	}
	if m.maxItemSize > 0 && len(value) > m.maxItemSize {
		m.skipped.Inc()
		return
	}
	if err := m.client.Set(&memcache.Item{Key: key, Value: value, Expiration: int32(TTL.Seconds())}); err != nil {
		m.errors.WithLabelValues("store").Inc()
		m.logger.Warn("Writing the results cache failed", "err", err)
	}
}

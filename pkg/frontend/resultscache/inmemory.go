package resultscache

import (
	"container/list"
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// entryOverhead is what an entry costs besides its key and value: the list
// element, the map slot and the slice headers, roughly.
const entryOverhead = 128

// InMemory is an LRU cache bounded by bytes.
type InMemory struct {
	maxBytes int64

	mu    sync.Mutex
	ll    *list.List // front: most recently used
	items map[string]*list.Element
	size  int64

	sizeBytes prometheus.Gauge
	entries   prometheus.Gauge
	evictions prometheus.Counter
}

type lruEntry struct {
	key   string
	value []byte
}

var _ Cache = (*InMemory)(nil)

// NewInMemory returns an empty cache of at most maxBytes.
func NewInMemory(maxBytes int64, reg prometheus.Registerer) *InMemory {
	f := promauto.With(reg)
	return &InMemory{
		maxBytes: maxBytes,
		ll:       list.New(),
		items:    map[string]*list.Element{},
		sizeBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_query_frontend_results_cache_memory_bytes",
			Help: "Bytes held by the in-process results cache (entries, keys and overhead).",
		}),
		entries: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_query_frontend_results_cache_entries",
			Help: "Entries in the in-process results cache.",
		}),
		evictions: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_query_frontend_results_cache_evictions_total",
			Help: "Entries evicted from the in-process results cache to stay within -frontend.results-cache.max-size-bytes.",
		}),
	}
}

// Fetch returns copies of the values found.
func (c *InMemory) Fetch(_ context.Context, keys []string) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	found := make(map[string][]byte, len(keys))
	for _, k := range keys {
		if e, ok := c.items[k]; ok {
			c.ll.MoveToFront(e)
			found[k] = append([]byte(nil), e.Value.(*lruEntry).value...)
		}
	}
	return found
}

// Store keeps a copy of value, evicting the least recently used entries to
// make room. A value larger than the whole cache is not kept.
func (c *InMemory) Store(_ context.Context, key string, value []byte) {
	cost := int64(len(key)+len(value)) + entryOverhead
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.remove(e)
	}
	if cost > c.maxBytes {
		c.publish()
		return
	}
	for c.size+cost > c.maxBytes {
		c.remove(c.ll.Back())
		c.evictions.Inc()
	}
	c.items[key] = c.ll.PushFront(&lruEntry{key: key, value: append([]byte(nil), value...)})
	c.size += cost
	c.publish()
}

func (c *InMemory) remove(e *list.Element) {
	le := e.Value.(*lruEntry)
	c.ll.Remove(e)
	delete(c.items, le.key)
	c.size -= int64(len(le.key)+len(le.value)) + entryOverhead
}

func (c *InMemory) publish() {
	c.sizeBytes.Set(float64(c.size))
	c.entries.Set(float64(len(c.items)))
}

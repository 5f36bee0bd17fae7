package chunk

import (
	"container/list"
	"encoding/binary"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// entryOverhead approximates the memory of one cache entry beyond its key
// and value (list element, map slot, headers).
const entryOverhead = 96

// lru is a least-recently-used cache bounded in bytes. Every key starts
// with a row-key prefix (tenant, bucket), so entries can be purged by tenant
// and bucket. A nil *lru is a disabled cache.
type lru struct {
	maxBytes int64

	mu    sync.Mutex
	size  int64
	ll    *list.List
	items map[string]*list.Element

	hits, misses, evictions prometheus.Counter
	bytes, entries          prometheus.Gauge
}

type lruEntry struct {
	key   string
	value any
	size  int64
}

func newLRU(name string, maxBytes int64, m *metrics) *lru {
	if maxBytes <= 0 {
		return nil
	}
	return &lru{
		maxBytes:  maxBytes,
		ll:        list.New(),
		items:     map[string]*list.Element{},
		hits:      m.cacheHits.WithLabelValues(name),
		misses:    m.cacheMisses.WithLabelValues(name),
		evictions: m.cacheEvictions.WithLabelValues(name),
		bytes:     m.cacheBytes.WithLabelValues(name),
		entries:   m.cacheEntries.WithLabelValues(name),
	}
}

// get returns the value cached under key and counts a hit or a miss.
func (c *lru) get(key string) (any, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		c.misses.Inc()
		return nil, false
	}
	c.hits.Inc()
	c.ll.MoveToFront(e)
	return e.Value.(*lruEntry).value, true
}

// contains is get without metrics, for the write-dedupe cache.
func (c *lru) contains(key string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if ok {
		c.ll.MoveToFront(e)
	}
	return ok
}

// put caches value under key; size is the value's approximate size in
// bytes. Values larger than a quarter of the cache are not kept.
func (c *lru) put(key string, value any, size int64) {
	if c == nil {
		return
	}
	size += int64(len(key)) + entryOverhead
	if size > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.removeLocked(e)
	}
	c.items[key] = c.ll.PushFront(&lruEntry{key: key, value: value, size: size})
	c.size += size
	for c.size > c.maxBytes {
		c.removeLocked(c.ll.Back())
		c.evictions.Inc()
	}
	c.updateGaugesLocked()
}

func (c *lru) removeLocked(e *list.Element) {
	ent := e.Value.(*lruEntry)
	c.ll.Remove(e)
	delete(c.items, ent.key)
	c.size -= ent.size
}

func (c *lru) updateGaugesLocked() {
	c.bytes.Set(float64(c.size))
	c.entries.Set(float64(len(c.items)))
}

// remove drops the entry of key, if any.
func (c *lru) remove(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.removeLocked(e)
		c.updateGaugesLocked()
	}
}

// purge removes every entry of tenant whose bucket drop returns true for.
func (c *lru) purge(tenant string, drop func(bucket uint32) bool) {
	if c == nil {
		return
	}
	prefix := string(appendTenant(nil, tenant))
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.items {
		if len(k) < len(prefix)+4 || k[:len(prefix)] != prefix {
			continue
		}
		if drop(binary.BigEndian.Uint32([]byte(k[len(prefix) : len(prefix)+4]))) {
			c.removeLocked(e)
		}
	}
	c.updateGaugesLocked()
}

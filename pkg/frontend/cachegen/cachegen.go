// Package cachegen keeps each tenant's results-cache generation in the
// wide-column table (namespace widecolumn.CacheGenerations). The query
// frontend puts the generation in every results-cache key; bumping it makes
// every entry of the tenant unreachable at once. Series deletion and tenant
// deletion bump it after dropping data, so deleted data never comes back
// from the cache.
//
// A generation only goes up: the row survives tenant deletion
// (widecolumn.Namespace.KeptOnTenantDeletion), and a bump writes
// max(current+1, now in nanoseconds), so two frontends bumping at once
// still both move past every value used before. Each bump adds one column
// (the generation, 8 bytes big-endian); the largest is the generation.
package cachegen

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// DefaultTTL is how long [Generations.Get] trusts a generation it read:
// another frontend's bump is seen within it. A stale read serves entries of
// the old generation for at most that long; nothing new is ever read back
// under it after.
const DefaultTTL = 5 * time.Second

// Table is what Generations needs of the wide-column store.
type Table interface {
	widecolumn.Reader
	Apply(ctx context.Context, muts []widecolumn.RowMutation) error
}

// Generations reads and bumps generations. Safe for concurrent use.
type Generations struct {
	table Table
	ttl   time.Duration
	now   func() time.Time

	mu     sync.Mutex
	cached map[string]cachedGen
}

type cachedGen struct {
	gen uint64
	at  time.Time
}

// New returns generations over table, trusting a read for ttl (0:
// [DefaultTTL]). now may be nil (time.Now).
func New(table Table, ttl time.Duration, now func() time.Time) *Generations {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Generations{table: table, ttl: ttl, now: now, cached: map[string]cachedGen{}}
}

// Get returns tenant's generation: 0 until the first bump.
func (g *Generations) Get(ctx context.Context, tenant string) (uint64, error) {
	now := g.now()
	g.mu.Lock()
	c, ok := g.cached[tenant]
	g.mu.Unlock()
	if ok && now.Sub(c.at) < g.ttl {
		return c.gen, nil
	}
	gen, err := g.read(ctx, tenant)
	if err != nil {
		return 0, err
	}
	g.remember(tenant, gen, now)
	return gen, nil
}

// Bump moves tenant's generation past every value it had and returns it.
func (g *Generations) Bump(ctx context.Context, tenant string) (uint64, error) {
	cur, err := g.read(ctx, tenant)
	if err != nil {
		return 0, err
	}
	now := g.now()
	next := max(cur+1, uint64(max(now.UnixNano(), 0)))
	col := binary.BigEndian.AppendUint64(nil, next)
	key := widecolumn.CacheGenerations.AppendTenant(nil, tenant)
	if err := g.table.Apply(ctx, []widecolumn.RowMutation{{Key: key, Cells: []widecolumn.Cell{{Column: col}}}}); err != nil {
		return 0, fmt.Errorf("bumping the cache generation of tenant %q: %w", tenant, err)
	}
	g.remember(tenant, next, now)
	return next, nil
}

// DeleteTenant bumps tenant's generation: tenant deletion and series
// deletion call it once the data is gone.
func (g *Generations) DeleteTenant(ctx context.Context, tenant string) error {
	_, err := g.Bump(ctx, tenant)
	return err
}

func (g *Generations) remember(tenant string, gen uint64, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.cached[tenant]; ok && c.gen > gen {
		gen = c.gen // never go back, even to a read older than a bump
	}
	g.cached[tenant] = cachedGen{gen: gen, at: at}
}

func (g *Generations) read(ctx context.Context, tenant string) (uint64, error) {
	if tenant == "" {
		return 0, widecolumn.ErrInvalidTenant
	}
	key := widecolumn.CacheGenerations.AppendTenant(nil, tenant)
	var gen uint64
	err := g.table.Read(ctx, widecolumn.ReadRequest{Keys: [][]byte{key}}, func(r widecolumn.Row) bool {
		for _, c := range r.Cells {
			if len(c.Column) == 8 {
				gen = max(gen, binary.BigEndian.Uint64(c.Column))
			}
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("reading the cache generation of tenant %q: %w", tenant, err)
	}
	return gen, nil
}

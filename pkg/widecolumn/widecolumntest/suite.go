package widecolumntest

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// NewBackend returns a fresh, empty backend and registers its cleanup.
type NewBackend func(t testing.TB) widecolumn.Backend

// Run runs the conformance suite against fresh backends from newBackend:
// the Backend contract on raw rows, then the namespace rules (tenant
// deletion, retention, tenant listing) on rows of every namespace.
func Run(t *testing.T, newBackend NewBackend) {
	t.Run("backend contract", func(t *testing.T) { testBackend(t, newBackend) })
	t.Run("tenant deletion in every namespace", func(t *testing.T) { testDeleteTenant(t, newBackend(t)) })
	t.Run("bucket retention", func(t *testing.T) { testBuckets(t, newBackend(t)) })
	t.Run("tenant listing per namespace", func(t *testing.T) { testTenants(t, newBackend(t)) })
}

// Bucket is the bucket of the [TenantBuckets] rows [TenantRows] writes.
const Bucket = 18628 // 2021-01-01 in days

// TenantRows returns one row in every namespace of the table for tenant:
// a [widecolumn.Listed] namespace gets a row whose id is listed in its
// index namespace's row. Applying it for several tenants and deleting one
// must leave exactly the others' rows.
func TenantRows(tenant string) []widecolumn.RowMutation {
	var muts []widecolumn.RowMutation
	for _, ns := range widecolumn.Namespaces() {
		m := widecolumn.RowMutation{Cells: []widecolumn.Cell{{Column: []byte("c"), Value: []byte(ns.Name())}}}
		switch ns.Layout() {
		case widecolumn.Listed:
			m.Key = ns.AppendID(nil, ID(ns, tenant))
		case widecolumn.TenantBuckets:
			m.Key = append(ns.AppendBucket(nil, tenant, Bucket), "rest"...)
		default:
			m.Key = append(ns.AppendTenant(nil, tenant), "rest"...)
		}
		if l := ns.Lists(); l != nil {
			m.Cells = append(m.Cells, widecolumn.Cell{Column: []byte(ID(l, tenant))})
		}
		muts = append(muts, m)
	}
	return muts
}

// ID returns an id of the length a [widecolumn.Listed] namespace takes,
// made from tenant.
func ID(ns *widecolumn.Namespace, tenant string) string {
	id := strings.Repeat(tenant+"-", ns.IDLen())
	return id[:ns.IDLen()]
}

// RowsByNamespace groups rows by namespace name; rows outside every
// namespace go under "".
func RowsByNamespace(rows []widecolumn.Row) map[string][]string {
	out := map[string][]string{}
	for _, r := range rows {
		name := ""
		if ns := widecolumn.NamespaceOf(r.Key); ns != nil {
			name = ns.Name()
		}
		out[name] = append(out[name], string(r.Key))
	}
	return out
}

func keysOfMuts(muts []widecolumn.RowMutation) []string {
	out := make([]string, 0, len(muts))
	for _, m := range muts {
		out = append(out, string(m.Key))
	}
	return out
}

func testDeleteTenant(t *testing.T, b widecolumn.Backend) {
	ctx := context.Background()
	// "a" is a prefix of "ab": the length prefix keeps their rows apart.
	tenants := []string{"a", "ab", "b"}
	for _, tn := range tenants {
		require.NoError(t, b.Apply(ctx, TenantRows(tn)))
	}
	require.Len(t, Dump(t, b), len(tenants)*len(widecolumn.Namespaces()))
	require.NotContains(t, RowsByNamespace(Dump(t, b)), "", "every row is in a namespace")

	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "a"))
	var want []string
	for _, tn := range tenants[1:] {
		want = append(want, keysOfMuts(TenantRows(tn))...)
	}
	// The deleted tenant's cache generation stays: it must only go up.
	for _, m := range TenantRows("a") {
		if ns := widecolumn.NamespaceOf(m.Key); ns.KeptOnTenantDeletion() {
			want = append(want, string(m.Key))
		}
	}
	require.Contains(t, want, string(append(widecolumn.CacheGenerations.AppendTenant(nil, "a"), "rest"...)))
	require.ElementsMatch(t, want, keysOf(Dump(t, b)), "only the other tenants' rows and the deleted tenant's cache generation remain")

	// Deleting again, or an unknown tenant, changes nothing.
	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "a"))
	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "nobody"))
	require.ElementsMatch(t, want, keysOf(Dump(t, b)))
	require.ErrorIs(t, widecolumn.DeleteTenant(ctx, b, ""), widecolumn.ErrInvalidTenant)

	// An index column that is not a whole id drops nothing else.
	idx := widecolumn.APIKeyTenants
	require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{Key: idx.AppendTenant(nil, "c"), Cells: []widecolumn.Cell{{Column: []byte("a")}, {Column: nil}}}}))
	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "c"))
	require.ElementsMatch(t, want, keysOf(Dump(t, b)))
}

func testBuckets(t *testing.T, b widecolumn.Backend) {
	ctx := context.Background()
	ns := widecolumn.Chunks
	for _, tn := range []string{"a", "ab"} {
		for bucket := uint32(10); bucket < 15; bucket++ {
			require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{
				Key:   append(ns.AppendBucket(nil, tn, bucket), 'S'),
				Cells: []widecolumn.Cell{{Column: []byte("c")}},
			}}))
		}
	}
	// Rows of other namespaces of the same tenant are not buckets.
	require.NoError(t, b.Apply(ctx, TenantRows("a")[:2]))

	first, ok, err := widecolumn.FirstBucket(ctx, b, ns, "a")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, uint32(10), first)
	_, ok, err = widecolumn.FirstBucket(ctx, b, ns, "nobody")
	require.NoError(t, err)
	require.False(t, ok)

	n, err := widecolumn.DropBucketsBefore(ctx, b, ns, "a", 13)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	n, err = widecolumn.DropBucketsBefore(ctx, b, ns, "a", 13)
	require.NoError(t, err)
	require.Zero(t, n)
	buckets := map[string][]uint32{}
	for _, r := range Dump(t, b) {
		if !ns.Contains(r.Key) {
			continue
		}
		tn, bucket, _, err := ns.ParseBucket(r.Key)
		require.NoError(t, err)
		buckets[string(tn)] = append(buckets[string(tn)], bucket)
	}
	require.Equal(t, map[string][]uint32{"a": {13, 14}, "ab": {10, 11, 12, 13, 14}}, buckets)
	require.Len(t, RowsByNamespace(Dump(t, b))[widecolumn.APIKeyTenants.Name()], 1, "other namespaces untouched")
}

func testTenants(t *testing.T, b widecolumn.Backend) {
	ctx := context.Background()
	for _, ns := range widecolumn.Namespaces() {
		if ns.Layout() == widecolumn.Listed {
			continue
		}
		got, err := widecolumn.Tenants(ctx, b, ns)
		require.NoError(t, err)
		require.Empty(t, got)
	}
	// Tenants that are prefixes of each other, a non-ASCII byte, and a
	// long one (two-byte length prefix) to cross the key order.
	long := strings.Repeat("z", 200)
	tenants := []string{"b", "ab", "a", "aé", long}
	for _, tn := range tenants {
		require.NoError(t, b.Apply(ctx, TenantRows(tn)))
	}
	// A second bucket of one tenant is listed once.
	require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{{Key: widecolumn.Chunks.AppendBucket(nil, "b", Bucket+1), Cells: []widecolumn.Cell{{Column: []byte("c")}}}}))
	for _, ns := range widecolumn.Namespaces() {
		if ns.Layout() == widecolumn.Listed {
			continue
		}
		got, err := widecolumn.Tenants(ctx, b, ns)
		require.NoError(t, err, ns.Name())
		require.Equal(t, []string{"a", "ab", "aé", "b", long}, got, ns.Name())
	}
	require.NoError(t, widecolumn.DeleteTenant(ctx, b, "ab"))
	got, err := widecolumn.Tenants(ctx, b, widecolumn.Chunks)
	require.NoError(t, err)
	require.Equal(t, []string{"a", "aé", "b", long}, got)
}

// Dump reads every row of the backend.
func Dump(t testing.TB, b widecolumn.Reader) []widecolumn.Row {
	t.Helper()
	var rows []widecolumn.Row
	require.NoError(t, b.Read(context.Background(), widecolumn.ReadRequest{Ranges: []widecolumn.KeyRange{{}}}, func(r widecolumn.Row) bool {
		rows = append(rows, r)
		return true
	}))
	return rows
}

// Count returns the rows, cells and bytes (keys, columns, values) stored.
func Count(t testing.TB, b widecolumn.Reader) (rows, cells, bytes int) {
	t.Helper()
	for _, r := range Dump(t, b) {
		rows++
		for _, c := range r.Cells {
			cells++
			bytes += len(r.Key) + len(c.Column) + len(c.Value)
		}
	}
	return rows, cells, bytes
}

// MetricValue sums the samples of the named counter or gauge in reg.
func MetricValue(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

package rulestore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/widecolumntest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Bigtable client's process-wide workers (as in widecolumn/bigtable).
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// backends are the real backends the store runs on.
var backends = map[string]func(testing.TB) widecolumn.Backend{
	"pebble":   func(t testing.TB) widecolumn.Backend { return backendtest.NewPebble(t) },
	"bigtable": func(t testing.TB) widecolumn.Backend { return backendtest.NewBigtable(t) },
}

func group(name string, exprs ...string) rulefmt.RuleGroup {
	g := rulefmt.RuleGroup{Name: name, Interval: model.Duration(time.Minute)}
	for i, e := range exprs {
		g.Rules = append(g.Rules, rulefmt.Rule{Record: "r" + strings.Repeat("x", i), Expr: e, Labels: map[string]string{"k": "v"}})
	}
	return g
}

// Names with the bytes an encoding could get wrong: separators, NUL and
// the escape bytes, a name that is a prefix of another, unicode.
var awkward = []string{"a", "a/b", "a b", "a\x00", "a\x00\x01", "ab", "ünï/cødé ✓", "\x01", "%2F", "z"}

func TestStoreConformance(t *testing.T) {
	for name, newBackend := range backends {
		t.Run(name, func(t *testing.T) { testStore(t, newBackend(t)) })
	}
}

func testStore(t *testing.T, b widecolumn.Backend) {
	ctx := context.Background()
	s := New(b)

	t.Run("empty", func(t *testing.T) {
		got, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = s.GetGroup(ctx, "t1", "ns", "g")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, s.DeleteGroup(ctx, "t1", "ns", "g"), ErrNotFound)
		require.ErrorIs(t, s.DeleteNamespace(ctx, "t1", "ns"), ErrNotFound)
		tenants, err := s.ListTenants(ctx)
		require.NoError(t, err)
		require.Empty(t, tenants)
	})

	// Every pair of awkward names, in two tenants of which one is a
	// prefix of the other.
	var want []Group
	for _, ns := range awkward {
		for _, gn := range awkward {
			g := group(gn, "sum(up)", `rate(x{a="b"}[5m])`)
			want = append(want, Group{Namespace: ns, RuleGroup: g})
			require.NoError(t, s.SetGroup(ctx, "t1", ns, g))
			require.NoError(t, s.SetGroup(ctx, "t", ns, group(gn, "1")))
		}
	}
	sortGroups(want)

	t.Run("list sorted by namespace and group", func(t *testing.T) {
		got, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Equal(t, want, got)
		tenants, err := s.ListTenants(ctx)
		require.NoError(t, err)
		require.Equal(t, []tenant.ID{"t", "t1"}, tenants)
	})
	t.Run("namespace listing holds that namespace only", func(t *testing.T) {
		for _, ns := range awkward {
			got, err := s.ListNamespace(ctx, "t1", ns)
			require.NoError(t, err)
			require.Len(t, got, len(awkward), "namespace %q", ns)
			for _, g := range got {
				require.Equal(t, ns, g.Namespace)
			}
		}
		got, err := s.ListNamespace(ctx, "t1", "absent")
		require.NoError(t, err)
		require.Empty(t, got)
	})
	t.Run("get", func(t *testing.T) {
		for _, w := range want {
			got, err := s.GetGroup(ctx, "t1", w.Namespace, w.Name)
			require.NoError(t, err)
			require.Equal(t, w, got)
		}
		_, err := s.GetGroup(ctx, "t2", "a", "a")
		require.ErrorIs(t, err, ErrNotFound, "another tenant's groups are not found")
	})
	t.Run("set replaces the whole group", func(t *testing.T) {
		g := group("a", "vector(1)")
		g.Labels = map[string]string{"team": "x"}
		require.NoError(t, s.SetGroup(ctx, "t1", "a/b", g))
		got, err := s.GetGroup(ctx, "t1", "a/b", "a")
		require.NoError(t, err)
		require.Equal(t, Group{Namespace: "a/b", RuleGroup: g}, got)
		all, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, all, len(want))
	})
	t.Run("delete a group deletes that one only", func(t *testing.T) {
		// "a" is a prefix of "a\x00" and "ab" in both parts of the key.
		require.NoError(t, s.DeleteGroup(ctx, "t1", "a", "a"))
		_, err := s.GetGroup(ctx, "t1", "a", "a")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorIs(t, s.DeleteGroup(ctx, "t1", "a", "a"), ErrNotFound)
		got, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, got, len(want)-1)
		got, err = s.ListNamespace(ctx, "t", "a")
		require.NoError(t, err)
		require.Len(t, got, len(awkward), "the other tenant keeps its group")
	})
	t.Run("delete a namespace deletes that one only", func(t *testing.T) {
		require.NoError(t, s.DeleteNamespace(ctx, "t1", "a"))
		require.ErrorIs(t, s.DeleteNamespace(ctx, "t1", "a"), ErrNotFound)
		got, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, got, len(want)-len(awkward))
		for _, g := range got {
			require.NotEqual(t, "a", g.Namespace)
		}
	})
	t.Run("tenant deletion removes every group", func(t *testing.T) {
		require.NoError(t, widecolumn.DeleteTenant(ctx, b, "t1"))
		got, err := s.ListGroups(ctx, "t1")
		require.NoError(t, err)
		require.Empty(t, got)
		tenants, err := s.ListTenants(ctx)
		require.NoError(t, err)
		require.Equal(t, []tenant.ID{"t"}, tenants)
		got, err = s.ListGroups(ctx, "t")
		require.NoError(t, err)
		require.Len(t, got, len(awkward)*len(awkward))
	})
	t.Run("invalid names", func(t *testing.T) {
		long := strings.Repeat("x", MaxNameBytes+1)
		for name, call := range map[string]func() error{
			"empty namespace":   func() error { return s.SetGroup(ctx, "t", "", group("g")) },
			"empty group":       func() error { return s.SetGroup(ctx, "t", "ns", group("")) },
			"long namespace":    func() error { return s.SetGroup(ctx, "t", long, group("g")) },
			"long group":        func() error { return s.SetGroup(ctx, "t", "ns", group(long)) },
			"not UTF-8":         func() error { return s.SetGroup(ctx, "t", "\xff", group("g")) },
			"get, empty group":  func() error { _, err := s.GetGroup(ctx, "t", "ns", ""); return err },
			"delete, long name": func() error { return s.DeleteNamespace(ctx, "t", long) },
		} {
			require.ErrorIs(t, call(), ErrInvalidName, name)
		}
		require.ErrorIs(t, s.SetGroup(ctx, "", "ns", group("g")), widecolumn.ErrInvalidTenant)
		_, err := s.ListGroups(ctx, "")
		require.ErrorIs(t, err, widecolumn.ErrInvalidTenant)
	})
	t.Run("longest names fit a Bigtable row key", func(t *testing.T) {
		nul := strings.Repeat("\x00", MaxNameBytes)
		require.NoError(t, s.SetGroup(ctx, "t", nul, group(nul, "1")))
		got, err := s.GetGroup(ctx, "t", nul, nul)
		require.NoError(t, err)
		require.Equal(t, nul, got.Name)
		require.Less(t, len(groupKey(tenant.ID(strings.Repeat("t", 150)), nul, nul)), 4096)
	})
	t.Run("too large", func(t *testing.T) {
		small := New(b)
		small.maxBytes = 1000
		require.NoError(t, small.SetGroup(ctx, "t", "ns", group("fits", strings.Repeat("1+", 300)+"1")))
		err := small.SetGroup(ctx, "t", "ns", group("big", strings.Repeat("1+", 500)+"1"))
		require.ErrorIs(t, err, ErrTooLarge)
		require.ErrorContains(t, err, "at most 1000 stored")
	})
}

func sortGroups(gs []Group) {
	// The order ListGroups promises.
	for i := 1; i < len(gs); i++ {
		for j := i; j > 0 && less(gs[j], gs[j-1]); j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
}

func less(a, b Group) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

func TestCorruptRows(t *testing.T) {
	ctx := context.Background()
	valid := func(name string) []byte { return []byte("name: " + name + "\nrules: []\n") }
	cases := map[string]widecolumn.RowMutation{
		"unterminated namespace": {Key: append(tenantPrefix("t"), "ns"...), Cells: []widecolumn.Cell{{Column: groupColumn, Value: valid("g")}}},
		"bad escape":             {Key: append(tenantPrefix("t"), "n\x00\x05s\x00\x01g\x00\x01"...), Cells: []widecolumn.Cell{{Column: groupColumn, Value: valid("g")}}},
		"trailing bytes":         {Key: append(groupKey("t", "ns", "g"), 'x'), Cells: []widecolumn.Cell{{Column: groupColumn, Value: valid("g")}}},
		"no group cell":          {Key: groupKey("t", "ns", "g"), Cells: []widecolumn.Cell{{Column: []byte("x"), Value: valid("g")}}},
		"not YAML":               {Key: groupKey("t", "ns", "g"), Cells: []widecolumn.Cell{{Column: groupColumn, Value: []byte("{")}}},
		"unknown field":          {Key: groupKey("t", "ns", "g"), Cells: []widecolumn.Cell{{Column: groupColumn, Value: []byte("name: g\nfoo: 1\n")}}},
		"name differs from key":  {Key: groupKey("t", "ns", "g"), Cells: []widecolumn.Cell{{Column: groupColumn, Value: valid("h")}}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			b := backendtest.NewPebble(t)
			require.NoError(t, b.Apply(ctx, []widecolumn.RowMutation{m}))
			_, err := New(b).ListGroups(ctx, "t")
			require.ErrorIs(t, err, widecolumn.ErrCorrupt)
		})
	}
}

// Every namespace's rows are in the table's tenant deletion (the suite of
// package widecolumntest checks the rule; this checks the store uses it).
func TestRowsAreInRuleGroupsNamespace(t *testing.T) {
	b := backendtest.NewPebble(t)
	require.NoError(t, New(b).SetGroup(context.Background(), "t", "ns", group("g", "1")))
	rows := widecolumntest.Dump(t, b)
	require.Len(t, rows, 1)
	require.Equal(t, widecolumn.RuleGroups, widecolumn.NamespaceOf(rows[0].Key))
}

func FuzzNameEncoding(f *testing.F) {
	for _, n := range awkward {
		f.Add(n, "g")
	}
	f.Fuzz(func(t *testing.T, ns, g string) {
		if ValidateName("namespace", ns) != nil || ValidateName("group", g) != nil {
			return
		}
		gotNS, gotG, err := parseKey("t", groupKey("t", ns, g))
		require.NoError(t, err)
		require.Equal(t, ns, gotNS)
		require.Equal(t, g, gotG)
	})
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(groupKey("t", "ns", "g"), []byte("name: g\nrules:\n- record: a\n  expr: '1'\n"))
	f.Add(append(tenantPrefix("t"), 0, 1, 0, 1), []byte("name: ''"))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		g, err := decodeRow("t", widecolumn.Row{Key: key, Cells: []widecolumn.Cell{{Column: groupColumn, Value: value}}})
		if err != nil {
			require.ErrorIs(t, err, widecolumn.ErrCorrupt)
			return
		}
		// What decodes re-encodes to the same key.
		require.Equal(t, key, groupKey("t", g.Namespace, g.Name))
	})
}

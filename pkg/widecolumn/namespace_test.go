package widecolumn

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func overlap(a, b KeyRange) bool {
	before := func(start, end []byte) bool { return end == nil || bytes.Compare(start, end) < 0 }
	return before(a.Start, b.End) && before(b.Start, a.End)
}

func TestNamespacesDisjoint(t *testing.T) {
	all := Namespaces()
	require.Len(t, all, 8)
	names := map[string]bool{}
	emptyPrefix := 0
	for i, a := range all {
		require.False(t, names[a.Name()], "name %s used twice", a.Name())
		names[a.Name()] = true
		require.NotEmpty(t, a.Owner(), a.Name())
		for _, b := range all[i+1:] {
			require.False(t, overlap(a.Range(), b.Range()), "%s %q and %s %q overlap", a.Name(), a.Range(), b.Name(), b.Range())
			require.False(t, strings.HasPrefix(a.prefix, b.prefix) && b.prefix != "", "%s's prefix starts with %s's", a.Name(), b.Name())
			require.False(t, strings.HasPrefix(b.prefix, a.prefix) && a.prefix != "", "%s's prefix starts with %s's", b.Name(), a.Name())
		}
		if a.prefix == "" {
			// Only a tenant-keyed namespace may start with the tenant: its
			// first byte, the tenant's length, is never 0.
			emptyPrefix++
			require.NotEqual(t, Listed, a.Layout(), a.Name())
		} else {
			require.Equal(t, byte(0), a.prefix[0], "%s: system namespaces live under 0x00", a.Name())
		}
	}
	require.LessOrEqual(t, emptyPrefix, 1)
}

func TestListedNamespacesHaveOneIndex(t *testing.T) {
	indexes := map[*Namespace]int{}
	for _, ns := range Namespaces() {
		if l := ns.Lists(); l != nil {
			require.Equal(t, Listed, l.Layout(), "%s lists %s", ns.Name(), l.Name())
			require.NotEqual(t, Listed, ns.Layout())
			require.Contains(t, Namespaces(), l)
			indexes[l]++
		}
	}
	for _, ns := range Namespaces() {
		if ns.Layout() == Listed {
			require.Positive(t, ns.IDLen(), ns.Name())
			require.Equal(t, 1, indexes[ns], "%s must be listed by exactly one index, or its rows outlive their tenant", ns.Name())
		}
	}
}

// TestKeysStayInTheirNamespace builds keys of every namespace for tenants
// of every length class and bytes: each is in its own namespace only, and
// no tenant's prefix is a prefix of another tenant's keys.
func TestKeysStayInTheirNamespace(t *testing.T) {
	tenants := []string{"a", "ab", "b", "\x00", "\xff\xff", "aé", strings.Repeat("x", 127), strings.Repeat("x", 128), strings.Repeat("y", 150), strings.Repeat("\xff", 300)}
	for _, ns := range Namespaces() {
		for _, tn := range tenants {
			var key []byte
			switch ns.Layout() {
			case Listed:
				key = ns.AppendID(nil, strings.Repeat("k", ns.IDLen()))
			case TenantBuckets:
				key = append(ns.AppendBucket(nil, tn, 7), "rest"...)
			default:
				key = append(ns.AppendTenant(nil, tn), "rest"...)
			}
			require.Same(t, ns, NamespaceOf(key), "%s key %q", ns.Name(), key)
			if ns.Layout() == Listed {
				continue
			}
			got, rest, err := ns.ParseTenant(key)
			require.NoError(t, err)
			require.Equal(t, tn, string(got))
			if ns.Layout() == TenantBuckets {
				require.Equal(t, []byte{0, 0, 0, 7}, rest[:4])
			}
			for _, other := range tenants {
				if other != tn {
					require.False(t, bytes.HasPrefix(key, ns.AppendTenant(nil, other)), "%s: tenant %q's prefix covers %q's key", ns.Name(), other, tn)
				}
			}
		}
	}
}

// TestGoldenKeys pins the bytes of every namespace's keys: rows written
// before the namespaces moved into this package (pkg/chunk's appendTenant,
// pkg/auth's keyRow and tenantRow) must stay readable. Changing one of these
// is a migration, not a refactoring.
func TestGoldenKeys(t *testing.T) {
	cases := map[string]struct {
		got, want []byte
	}{
		"chunks tenant":        {Chunks.AppendTenant(nil, "tenant-1"), []byte("\x08tenant-1")},
		"chunks bucket":        {Chunks.AppendBucket(nil, "tenant-1", 18628), []byte("\x08tenant-1\x00\x00\x48\xc4")},
		"chunks long tenant":   {Chunks.AppendTenant(nil, strings.Repeat("t", 150)), append([]byte{0x96, 0x01}, strings.Repeat("t", 150)...)},
		"api key row":          {APIKeys.AppendID(nil, "abcdefghijklmnop"), []byte("\x00auth/key/abcdefghijklmnop")},
		"api key tenant row":   {APIKeyTenants.AppendTenant(nil, "t1"), []byte("\x00auth/tenant/\x02t1")},
		"rule groups":          {RuleGroups.AppendTenant(nil, "t1"), []byte("\x00rules/\x02t1")},
		"alertmanager":         {Alertmanager.AppendTenant(nil, "t1"), []byte("\x00alertmanager/\x02t1")},
		"tombstones":           {Tombstones.AppendTenant(nil, "t1"), []byte("\x00tombstones/\x02t1")},
		"cache generations":    {CacheGenerations.AppendTenant(nil, "t1"), []byte("\x00cachegen/\x02t1")},
		"usage":                {Usage.AppendTenant(nil, "t1"), []byte("\x00usage/\x02t1")},
		"api key prefix":       {APIKeys.AppendPrefix(nil), []byte("\x00auth/key/")},
		"append keeps dst":     {APIKeyTenants.AppendTenant([]byte("x"), "t"), []byte("x\x00auth/tenant/\x01t")},
		"chunks range start":   {Chunks.Range().Start, []byte{0x01}},
		"api keys range end":   {APIKeys.Range().End, []byte("\x00auth/key0")},
		"api tenant range end": {APIKeyTenants.Range().End, []byte("\x00auth/tenant0")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.got)
		})
	}
	require.Nil(t, Chunks.Range().End)
}

func TestParseTenant(t *testing.T) {
	cases := map[string]struct {
		ns         *Namespace
		key        string
		tenant     string
		bucket     uint32
		rest       string
		wantErr    bool
		wantBucket bool
	}{
		"chunk key":              {ns: Chunks, key: "\x02t1\x00\x00\x00\x05S..", tenant: "t1", bucket: 5, rest: "S..", wantBucket: true},
		"chunk key, no bucket":   {ns: Chunks, key: "\x02t1\x00\x00", wantErr: true, wantBucket: true},
		"tenant key":             {ns: RuleGroups, key: "\x00rules/\x02t1group", tenant: "t1", rest: "group"},
		"other namespace":        {ns: RuleGroups, key: "\x00auth/tenant/\x02t1", wantErr: true},
		"system key as chunks":   {ns: Chunks, key: "\x00rules/\x02t1", wantErr: true},
		"empty tenant":           {ns: RuleGroups, key: "\x00rules/\x00", wantErr: true},
		"tenant past the end":    {ns: RuleGroups, key: "\x00rules/\x05t1", wantErr: true},
		"bad length":             {ns: Chunks, key: "\xff\xff\xff", wantErr: true},
		"listed has no tenant":   {ns: APIKeys, key: "\x00auth/key/abcdefghijklmnop", wantErr: true},
		"buckets of a keyed one": {ns: RuleGroups, key: "\x00rules/\x02t1\x00\x00\x00\x01", wantErr: true, wantBucket: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var (
				tenant, rest []byte
				bucket       uint32
				err          error
			)
			if tc.wantBucket {
				tenant, bucket, rest, err = tc.ns.ParseBucket([]byte(tc.key))
			} else {
				tenant, rest, err = tc.ns.ParseTenant([]byte(tc.key))
			}
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.tenant, string(tenant))
			require.Equal(t, tc.bucket, bucket)
			require.Equal(t, tc.rest, string(rest))
		})
	}
	_, _, err := Chunks.ParseTenant([]byte("\x00x"))
	require.ErrorIs(t, err, ErrCorrupt)
}

func TestAppendPanicsOnTheWrongLayout(t *testing.T) {
	require.Panics(t, func() { APIKeys.AppendTenant(nil, "t") })
	require.Panics(t, func() { RuleGroups.AppendBucket(nil, "t", 1) })
	require.Panics(t, func() { RuleGroups.AppendID(nil, "id") })
}

func FuzzParseBucket(f *testing.F) {
	f.Add([]byte("\x02t1\x00\x00\x00\x05S"))
	f.Add([]byte("\x96\x01"))
	f.Add([]byte("\x00auth/tenant/\x01t"))
	f.Fuzz(func(t *testing.T, key []byte) {
		for _, ns := range Namespaces() {
			if ns.Layout() == Listed {
				continue
			}
			tenant, rest, err := ns.ParseTenant(key)
			if err != nil {
				continue
			}
			// A parsed key rebuilds exactly.
			require.Equal(t, key, append(ns.AppendTenant(nil, string(tenant)), rest...))
			if ns.Layout() == TenantBuckets {
				tn, b, rest, err := ns.ParseBucket(key)
				if err == nil {
					require.Equal(t, key, append(ns.AppendBucket(nil, string(tn), b), rest...))
				}
			}
		}
	})
}

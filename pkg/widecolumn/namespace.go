package widecolumn

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Layout is how a namespace builds its row keys after its prefix.
type Layout int

// Layouts. Every tenant part is the tenant's length as a uvarint followed by
// its bytes, so tenant "a" is never a key prefix of tenant "ab".
const (
	// TenantKeyed keys are prefix │ uvarint(len(tenant)) │ tenant │ rest.
	// Every row of a tenant is under one key prefix, dropped with the
	// tenant.
	TenantKeyed Layout = iota + 1
	// TenantBuckets keys are prefix │ uvarint(len(tenant)) │ tenant │
	// bucket (uint32 big-endian) │ rest. A tenant and each of its time
	// buckets are key prefixes: retention drops whole buckets
	// ([DropBucketsBefore]).
	TenantBuckets
	// Listed keys are prefix │ id, every id of the same length: the tenant
	// is not in the key (a row is found by its id alone). A [TenantKeyed]
	// index namespace holds one row per tenant with one column per id
	// ([Namespace.Lists]); deleting the tenant drops the rows it lists.
	Listed
)

// Namespace is one kind of row in the table: every row key of the
// namespace is in [Namespace.Range], and no two namespaces' ranges overlap.
// The namespaces are package variables, listed by [Namespaces]; a new kind
// of row gets a new entry there, never a prefix of its own making.
type Namespace struct {
	name   string
	prefix string
	owner  string
	layout Layout
	idLen  int        // Listed: the length of every id
	lists  *Namespace // an index: the Listed namespace its columns name
	// kept: tenant deletion leaves the namespace's rows in place (see
	// [Namespace.KeptOnTenantDeletion]).
	kept bool
}

// The table of namespaces. Rows of the empty-prefix namespace (Chunks)
// start with the tenant's length, never 0 since a tenant is never empty:
// every other namespace lives under the byte 0x00 with an ASCII name, so
// none can be reached by a tenant's prefix drop. docs/schema.md of package
// chunk documents the bytes.
var (
	// Chunks holds a tenant's series, postings, label-name and chunk rows
	// (package chunk), by index bucket.
	Chunks = &Namespace{name: "chunks", owner: "pkg/chunk", layout: TenantBuckets}
	// APIKeys holds one row per API key, found by the key's 16-character
	// id (package auth). The tenant is in the record, not in the key.
	APIKeys = &Namespace{name: "api-keys", prefix: "\x00auth/key/", owner: "pkg/auth", layout: Listed, idLen: 16}
	// APIKeyTenants holds one row per tenant whose columns are the ids of
	// its API keys (package auth).
	APIKeyTenants = &Namespace{name: "api-key-tenants", prefix: "\x00auth/tenant/", owner: "pkg/auth", layout: TenantKeyed, lists: APIKeys}
	// RuleGroups holds a tenant's rule groups (the ruler).
	RuleGroups = &Namespace{name: "rule-groups", prefix: "\x00rules/", owner: "pkg/ruler", layout: TenantKeyed}
	// Alertmanager holds a tenant's Alertmanager configuration and its
	// replicated state (silences, notification log).
	Alertmanager = &Namespace{name: "alertmanager", prefix: "\x00alertmanager/", owner: "pkg/alertmanager", layout: TenantKeyed}
	// Tombstones holds a tenant's series-deletion requests.
	Tombstones = &Namespace{name: "tombstones", prefix: "\x00tombstones/", owner: "series deletion", layout: TenantKeyed}
	// Usage holds a tenant's usage ledger (package usage): one row per
	// process instance that counted for the tenant, each written only by
	// that instance, with one column per billing counter.
	Usage = &Namespace{name: "usage", prefix: "\x00usage/", owner: "pkg/usage", layout: TenantKeyed}
	// CacheGenerations holds a tenant's results-cache generation (the
	// query frontend, package frontend/cachegen). It is the one namespace
	// tenant deletion keeps: a generation must only go up, or a tenant
	// deleted and written again would find its old cached results under
	// a generation it used before. The deletion bumps it instead.
	CacheGenerations = &Namespace{name: "cache-generations", prefix: "\x00cachegen/", owner: "pkg/frontend", layout: TenantKeyed, kept: true}
)

// table is every namespace, in tenant-deletion order: credentials first, so
// a tenant being deleted can no longer write or read; configurations next;
// then its data; tombstones and cache generations, which describe the
// data, after it, so a deletion cut short never resurrects deleted series
// nor serves cached results of rows still present.
var table = []*Namespace{APIKeyTenants, APIKeys, RuleGroups, Alertmanager, Chunks, Tombstones, Usage, CacheGenerations}

// Namespaces returns every namespace of the table, in the order
// [DeleteTenant] visits them.
func Namespaces() []*Namespace { return slices.Clone(table) }

// NamespaceOf returns the namespace key belongs to, or nil when none does.
func NamespaceOf(key []byte) *Namespace {
	for _, ns := range table {
		if ns.Contains(key) {
			return ns
		}
	}
	return nil
}

// Name is the namespace's name, for logs and errors.
func (ns *Namespace) Name() string { return ns.name }

// Owner names the package that writes the namespace's rows.
func (ns *Namespace) Owner() string { return ns.owner }

// Layout is how the namespace's keys continue after the prefix.
func (ns *Namespace) Layout() Layout { return ns.layout }

// Lists is, for an index namespace, the [Listed] namespace whose ids its
// columns are; nil otherwise.
func (ns *Namespace) Lists() *Namespace { return ns.lists }

// KeptOnTenantDeletion reports whether [DeleteTenant] leaves the
// namespace's rows of a deleted tenant in place ([CacheGenerations]: the
// row is a few bytes and must never go back to its initial value).
func (ns *Namespace) KeptOnTenantDeletion() bool { return ns.kept }

// IDLen is the length of every id of a [Listed] namespace; 0 otherwise.
func (ns *Namespace) IDLen() int { return ns.idLen }

// AppendPrefix appends the prefix every key of the namespace starts with
// and returns the result.
func (ns *Namespace) AppendPrefix(dst []byte) []byte { return append(dst, ns.prefix...) }

// AppendID appends the key of id's row in a [Listed] namespace and returns
// the result. It panics for another layout (a programmer error).
func (ns *Namespace) AppendID(dst []byte, id string) []byte {
	if ns.layout != Listed {
		panic(fmt.Sprintf("widecolumn: namespace %s has no id keys", ns.name))
	}
	return append(append(dst, ns.prefix...), id...)
}

// AppendTenant appends the prefix of every row of tenant in the namespace
// and returns the result. tenant must not be empty: the package's functions
// refuse an empty tenant with [ErrInvalidTenant], and callers that build
// keys themselves must too. It panics for a [Listed] namespace (a
// programmer error).
func (ns *Namespace) AppendTenant(dst []byte, tenant string) []byte {
	if ns.layout == Listed {
		panic(fmt.Sprintf("widecolumn: namespace %s has no tenant in its keys", ns.name))
	}
	dst = append(dst, ns.prefix...)
	dst = binary.AppendUvarint(dst, uint64(len(tenant)))
	return append(dst, tenant...)
}

// AppendBucket appends the prefix of every row of tenant's bucket in a
// [TenantBuckets] namespace and returns the result. It panics for another
// layout (a programmer error).
func (ns *Namespace) AppendBucket(dst []byte, tenant string, bucket uint32) []byte {
	if ns.layout != TenantBuckets {
		panic(fmt.Sprintf("widecolumn: namespace %s has no buckets", ns.name))
	}
	return binary.BigEndian.AppendUint32(ns.AppendTenant(dst, tenant), bucket)
}

// Range is the key range of the namespace: its prefix, or for the
// empty-prefix namespace every key from 0x01 on.
func (ns *Namespace) Range() KeyRange {
	if ns.prefix == "" {
		return KeyRange{Start: []byte{0x01}}
	}
	return PrefixRange([]byte(ns.prefix))
}

// Contains reports whether key is in the namespace.
func (ns *Namespace) Contains(key []byte) bool {
	r := ns.Range()
	return bytes.Compare(key, r.Start) >= 0 && (r.End == nil || bytes.Compare(key, r.End) < 0)
}

// ParseTenant splits a key of a tenant-keyed namespace into the tenant and
// what follows it. tenant and rest alias key. A key outside the namespace
// or with a bad tenant part is [ErrCorrupt].
func (ns *Namespace) ParseTenant(key []byte) (tenant, rest []byte, err error) {
	if ns.layout == Listed {
		return nil, nil, fmt.Errorf("namespace %s has no tenant in its keys", ns.name)
	}
	if !ns.Contains(key) {
		return nil, nil, fmt.Errorf("%w: key %q is not in namespace %s", ErrCorrupt, key, ns.name)
	}
	rest = key[len(ns.prefix):]
	n, w := binary.Uvarint(rest)
	if w <= 0 || w != uvarintLen(n) {
		// Overlong encodings too: every key has one spelling.
		return nil, nil, fmt.Errorf("%w: bad tenant length in key %q", ErrCorrupt, key)
	}
	rest = rest[w:]
	if n == 0 || n > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: tenant of %d bytes in key %q", ErrCorrupt, n, key)
	}
	return rest[:n], rest[n:], nil
}

// ParseBucket splits a key of a [TenantBuckets] namespace into the tenant,
// the bucket and what follows them. tenant and rest alias key.
func (ns *Namespace) ParseBucket(key []byte) (tenant []byte, bucket uint32, rest []byte, err error) {
	if ns.layout != TenantBuckets {
		return nil, 0, nil, fmt.Errorf("namespace %s has no buckets", ns.name)
	}
	tenant, rest, err = ns.ParseTenant(key)
	if err != nil {
		return nil, 0, nil, err
	}
	if len(rest) < 4 {
		return nil, 0, nil, fmt.Errorf("%w: key %q too short for a bucket", ErrCorrupt, key)
	}
	return tenant, binary.BigEndian.Uint32(rest), rest[4:], nil
}

func uvarintLen(n uint64) int {
	w := 1
	for ; n >= 0x80; n >>= 7 {
		w++
	}
	return w
}

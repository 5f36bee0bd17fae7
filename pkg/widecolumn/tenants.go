package widecolumn

import (
	"context"
	"fmt"
	"slices"
)

// Reader reads rows; every [Backend] is one.
type Reader interface {
	Read(ctx context.Context, req ReadRequest, fn func(Row) bool) error
}

// ReadDropper reads rows and drops key prefixes: what tenant deletion and
// retention need of a [Backend].
type ReadDropper interface {
	Reader
	DropPrefix(ctx context.Context, prefix []byte) error
}

// DeleteTenant drops every row of tenant from every namespace of the table,
// in [Namespaces] order, so a new kind of row is deleted with its tenant as
// soon as it has a namespace; only the namespaces
// [Namespace.KeptOnTenantDeletion] are left (the results-cache generation,
// which the caller bumps after the deletion). Every step is idempotent:
// after an error, calling DeleteTenant again resumes.
func DeleteTenant(ctx context.Context, b ReadDropper, tenant string) error {
	for _, ns := range table {
		if ns.kept {
			if tenant == "" {
				return ErrInvalidTenant
			}
			continue
		}
		if err := ns.DeleteTenant(ctx, b, tenant); err != nil {
			return err
		}
	}
	return nil
}

// DeleteTenant drops every row of tenant in this namespace: the tenant's
// prefix, and for an index namespace first every row its columns list. A
// [Listed] namespace has nothing to drop by tenant (its index does it).
func (ns *Namespace) DeleteTenant(ctx context.Context, b ReadDropper, tenant string) error {
	if tenant == "" {
		return ErrInvalidTenant
	}
	if ns.layout == Listed {
		return nil
	}
	prefix := ns.AppendTenant(nil, tenant)
	if ns.lists != nil {
		var ids [][]byte
		err := b.Read(ctx, ReadRequest{Ranges: []KeyRange{PrefixRange(prefix)}}, func(r Row) bool {
			for _, c := range r.Cells {
				// Only whole ids: a shorter column would drop every id it
				// is a prefix of.
				if len(c.Column) == ns.lists.idLen {
					ids = append(ids, c.Column)
				}
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("reading the %s index of tenant %q: %w", ns.lists.name, tenant, err)
		}
		for _, id := range ids {
			if err := b.DropPrefix(ctx, ns.lists.AppendID(nil, string(id))); err != nil {
				return fmt.Errorf("dropping %s row %q of tenant %q: %w", ns.lists.name, id, tenant, err)
			}
		}
	}
	if err := b.DropPrefix(ctx, prefix); err != nil {
		return fmt.Errorf("dropping tenant %q from namespace %s: %w", tenant, ns.name, err)
	}
	return nil
}

// Tenants lists the tenants with at least one row in namespace ns, sorted.
// It reads one row per tenant (a skip scan over the tenant prefixes), so it
// costs one backend read per tenant. A key with a bad tenant part stops it
// with [ErrCorrupt].
func Tenants(ctx context.Context, b Reader, ns *Namespace) ([]string, error) {
	if ns.layout == Listed {
		return nil, fmt.Errorf("namespace %s has no tenant in its keys", ns.name)
	}
	var (
		out  []string
		r    = ns.Range()
		from = r.Start
	)
	for {
		var key []byte
		err := b.Read(ctx, ReadRequest{Ranges: []KeyRange{{Start: from, End: r.End}}, Limit: 1, CellsPerRow: 1}, func(r Row) bool {
			key = r.Key
			return false
		})
		if err != nil {
			return nil, fmt.Errorf("listing the tenants of namespace %s: %w", ns.name, err)
		}
		if key == nil {
			break
		}
		tenant, _, err := ns.ParseTenant(key)
		if err != nil {
			return nil, fmt.Errorf("listing the tenants of namespace %s: %w", ns.name, err)
		}
		out = append(out, string(tenant))
		from = PrefixEnd(ns.AppendTenant(nil, string(tenant)))
		if from == nil || (r.End != nil && string(from) >= string(r.End)) {
			break
		}
	}
	// Keys order tenants by length first (the length prefix); callers want
	// them by name.
	slices.Sort(out)
	return out, nil
}

// FirstBucket returns tenant's oldest bucket in a [TenantBuckets]
// namespace; ok is false when the tenant has no row there.
func FirstBucket(ctx context.Context, b Reader, ns *Namespace, tenant string) (bucket uint32, ok bool, err error) {
	if ns.layout != TenantBuckets {
		return 0, false, fmt.Errorf("namespace %s has no buckets", ns.name)
	}
	if tenant == "" {
		return 0, false, ErrInvalidTenant
	}
	prefix := ns.AppendTenant(nil, tenant)
	var key []byte
	err = b.Read(ctx, ReadRequest{Ranges: []KeyRange{PrefixRange(prefix)}, Limit: 1, CellsPerRow: 1}, func(r Row) bool {
		key, ok = r.Key, true
		return false
	})
	if err != nil || !ok {
		return 0, false, err
	}
	_, bucket, _, err = ns.ParseBucket(key)
	if err != nil {
		return 0, false, fmt.Errorf("finding the oldest bucket: %w", err)
	}
	return bucket, true, nil
}

// DropBucketsBefore drops every bucket of tenant in a [TenantBuckets]
// namespace that is below cutoff, oldest first, and returns how many it
// dropped. It reads the oldest bucket before each drop, so it costs two
// backend calls per bucket and none for buckets that hold nothing.
func DropBucketsBefore(ctx context.Context, b ReadDropper, ns *Namespace, tenant string, cutoff uint32) (int, error) {
	dropped, last := 0, uint32(0)
	for {
		first, ok, err := FirstBucket(ctx, b, ns, tenant)
		if err != nil {
			return dropped, err
		}
		if !ok || first >= cutoff {
			return dropped, nil
		}
		if dropped > 0 && first == last {
			return dropped, fmt.Errorf("bucket %d of tenant %q still present after dropping it", first, tenant)
		}
		last = first
		if err := b.DropPrefix(ctx, ns.AppendBucket(nil, tenant, first)); err != nil {
			return dropped, fmt.Errorf("dropping bucket %d of tenant %q: %w", first, tenant, err)
		}
		dropped++
	}
}

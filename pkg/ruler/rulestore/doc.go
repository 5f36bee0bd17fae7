// Package rulestore keeps tenants' rule groups in the wide-column store,
// in namespace [widecolumn.RuleGroups]: one row per group, written whole,
// so a group is replaced (upserted) in one write and never read half
// updated.
//
// # Rows
//
//	key:   RuleGroups prefix │ uvarint(len(tenant)) │ tenant │ esc(namespace) 00 01 │ esc(group) 00 01
//	cell:  column "g" → the group as YAML (rulefmt.RuleGroup)
//
// esc writes every byte as itself except 0x00, written 00 FF; 00 01 ends
// a part. So namespace and group names may hold any byte (a '/', spaces,
// unicode, NUL), keys sort by (namespace, group) byte-wise, and no
// namespace's or group's key prefix is another's: a namespace is one
// prefix drop. Every row is under the tenant's prefix, so
// [widecolumn.DeleteTenant] removes a tenant's rules with its data.
//
// Names are bounded ([MaxNameBytes]) so a key stays under Bigtable's 4 KiB
// row-key limit; a stored group is bounded ([MaxGroupBytes]) and a
// tenant's listing is bounded ([MaxGroupsPerTenant]), so no read of the
// store holds more than that in memory whatever its rows say.
package rulestore

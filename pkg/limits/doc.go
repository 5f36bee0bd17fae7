// Package limits holds every per-tenant limit in one struct, [Limits], and
// answers "what is this limit for this tenant" through [Overrides].
//
// Defaults come from flags (or the `limits:` YAML section); per-tenant values
// come from the overrides. Components ask for a tenant's limits on every
// request, so a change takes effect without a restart.
package limits

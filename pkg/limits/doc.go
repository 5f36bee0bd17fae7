// Package limits holds every per-tenant limit in one struct, [Limits], and
// answers "what is this limit for this tenant" through [Overrides].
//
// Defaults come from flags (or the `limits:` YAML section); per-tenant values
// come from the runtime config file (-runtime-config.file), whose layout is
//
//	overrides:
//	  <tenant>:
//	    <limit>: <value>   # YAML keys as in the `limits:` section
//
// Each tenant's entry starts from the defaults, so it lists only what
// differs. [RuntimeConfig] loads the file when its service starts (an invalid
// file fails the start) and reads it again every -runtime-config.reload-period,
// applying it when its content changed; an invalid reload keeps the previous
// overrides and is counted in hearth_runtime_config_reloads_total{status} and
// hearth_runtime_config_last_reload_successful. [RuntimeConfig.Handler] serves
// GET /runtime_config (?mode=diff for only what differs from the defaults).
//
// Components ask for a tenant's limits on every request
// ([Overrides.For]), so a change takes effect without a restart.
package limits

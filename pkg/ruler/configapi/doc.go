// Package configapi is the ruler's configuration API, compatible with
// Cortex's and Mimir's, so mimirtool, cortextool and Grafana's rule editor
// manage a tenant's rule groups as they do there. [API.Register] mounts it
// under three roots: <prefix>/config/v1/rules (the canonical one, prefix
// being the querier's -querier.http-prefix, /prometheus), /api/v1/rules and
// /api/prom/rules:
//
//	GET    <root>                        every namespace: YAML map namespace → groups
//	GET    <root>/{namespace}            one namespace, the same shape
//	GET    <root>/{namespace}/{group}    one group, YAML
//	POST   <root>/{namespace}            one group in YAML, replacing a group of that name: 202
//	DELETE <root>/{namespace}/{group}    202
//	DELETE <root>/{namespace}            every group of the namespace: 202
//
// A GET that finds nothing answers 404 "no rule groups found" (Grafana
// reads it as empty). Namespace and group path segments are URL-unescaped
// and may be any UTF-8 (a '/' is sent as %2F; a name "." or ".." needs its
// dots escaped, or the HTTP mux cleans it away).
//
// A written group is checked before it is stored: its YAML strictly (an
// unknown field is refused), its rules as Prometheus's rulefmt checks them
// (the messages `promtool check rules` prints, naming the group and the
// rule), each expression bounded as the querier bounds queries before it
// parses one, and the tenant's limits (pkg/limits: max_rules_per_rule_group,
// max_rule_groups_per_tenant, min_evaluation_interval). A body over
// [Deps.MaxRuleGroupBytes] is refused with 413 without being read whole.
//
// With an empty -querier.http-prefix, /api/v1/rules would be both this API
// and Prometheus's rules-state API: the wiring must refuse that
// configuration when the ruler runs.
package configapi

// Package ruler evaluates tenants' recording and alerting rules.
//
// A [Ruler] joins the ruler ring (package ring) and evaluates the rule
// groups it owns: each group (tenant, namespace, group) is owned by the
// first ACTIVE and healthy ruler clockwise from the group's hash. It polls
// the rule store every -ruler.poll-interval (and at once on [Ruler.Notify])
// and runs one upstream rules.Manager per tenant, with that tenant's own
// query function, appendable and Alertmanager notifier, since a manager has
// one of each for all its groups.
//
// Queries run on an injected storage.Queryable and promql.QueryEngine (the
// querier's, in process) or, with -ruler.query-frontend.address, through
// the query frontend's Prometheus API ([FrontendQueryFunc]). Results and
// the ALERTS / ALERTS_FOR_STATE series are pushed through an injected
// [PushFunc] (the distributor's push path) as the tenant's own samples.
//
// [Ruler.StateHandler] answers Prometheus's /api/v1/rules and
// /api/v1/alerts for the tenant of the request, from the groups this ruler
// evaluates merged with those of the other rulers of the ring.
package ruler

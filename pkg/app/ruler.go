package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/distributor/remotewrite"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/ruler"
	"github.com/hearthmetrics/hearth/pkg/ruler/configapi"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// validateRuler checks the settings the ruler needs.
func (c *Config) validateRuler() error {
	errs := []error{c.Ruler.Validate()}
	if c.Querier.HTTPPrefix == "" {
		errs = append(errs, errors.New("querier.http_prefix: empty with the ruler running: the rules config API's /api/v1/rules would collide with Prometheus's rules API at /api/v1/rules; keep -querier.http-prefix=/prometheus or set another prefix"))
	}
	return errors.Join(errs...)
}

// initRuler builds the ruler: it joins the ruler ring, reads rule groups
// from the store, queries through this process's querier (or the query
// frontend) and pushes results through its distributor.
func (a *App) initRuler(explicitSet) error {
	if !a.cfg.has(TargetRuler) {
		return nil
	}
	if err := a.buildQuerier(); err != nil {
		return err
	}
	if err := a.buildDistributor(); err != nil {
		return err
	}
	store, err := a.ruleStore()
	if err != nil {
		return err
	}
	r, lc, err := a.rulerRing()
	if err != nil {
		return err
	}
	d := ruler.Deps{
		Config:     a.cfg.Ruler,
		Store:      rulerStore{store},
		Ring:       r,
		InstanceID: lc.ID(),
		Queryable:  a.querier.Queryable(),
		Engine:     a.querier.Engine(),
		Push:       a.rulePush,
		Limits:     a.overrides,
		Logger:     a.logger.With("component", "ruler"),
		Registerer: a.reg,
	}
	if addr := a.cfg.Ruler.QueryFrontend.Address; addr != "" {
		// The frontend is asked as the tenant, in X-Scope-OrgID: it must
		// trust that header from the ruler (-auth.mode=trust-header behind
		// the cluster's network boundary).
		client := &http.Client{Timeout: a.cfg.Querier.Timeout + 10*time.Second}
		d.QueryFunc = ruler.FrontendQueryFunc(addr+a.cfg.Querier.HTTPPrefix, client, a.cluster.SignHTTP)
	}
	a.ruler, err = ruler.New(d)
	if err != nil {
		return fmt.Errorf("building the ruler: %w", err)
	}
	a.ruler.RegisterGRPC(a.servers.grpc)
	peers := ruler.NewPeerClient(r, lc.ID(), a.cfg.Querier.Timeout, a.cluster.DialOptions()...)
	a.svcs = append(a.svcs, a.ruler.Service(), services.New("ruler-peers", nil, nil, func(error) error { return peers.Close() }))
	prefix := a.cfg.Querier.HTTPPrefix
	state := a.tenantHTTP(auth.ScopeRead, http.StripPrefix(prefix, a.ruler.StateHandler(peers.Groups)))
	a.servers.mux.Handle("GET "+prefix+"/api/v1/rules", state)
	a.servers.mux.Handle("POST "+prefix+"/api/v1/rules", state)
	a.servers.mux.Handle("GET "+prefix+"/api/v1/alerts", state)
	api, err := configapi.New(configapi.Deps{
		Store:             store,
		Limits:            a.overrides,
		OnChange:          a.ruler.Notify,
		MaxRuleGroupBytes: a.cfg.Ruler.MaxRuleGroupBytes,
		Logger:            a.logger.With("component", "ruler-config-api"),
		Registerer:        a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the rules API: %w", err)
	}
	api.Register(a.servers.mux, prefix, a.tenantHTTP)
	return nil
}

// rulePush writes rule results through the distributor, as the tenant's
// samples from the ruler (the ingesters count them apart from pushes).
func (a *App) rulePush(ctx context.Context, series []ingesterpb.TimeSeries) error {
	req := &remotewrite.Request{Push: ingesterpb.PushRequest{Timeseries: series, Source: ingesterpb.Source_SOURCE_RULE}}
	req.Ref()
	defer req.Unref()
	_, err := a.distributor.Push(ctx, req)
	return err
}

// rulerRing joins this ruler to the ruler ring and returns the ring and
// its lifecycler.
func (a *App) rulerRing() (*ring.Ring, *ring.Lifecycler, error) {
	cfg := a.cfg.Ruler.Ring
	r, err := ring.New(cfg, "ruler", a.ringKV, a.logger.With("component", "ruler-ring"), a.reg)
	if err != nil {
		return nil, nil, fmt.Errorf("building the ruler ring: %w", err)
	}
	host, port, err := advertisedAddr(a.servers.GRPCAddr())
	if err != nil {
		return nil, nil, err
	}
	if !a.explicit.has(&a.cfg.Ruler.Ring.InstanceAddr) {
		cfg.InstanceAddr = host
	}
	if !a.explicit.has(&a.cfg.Ruler.Ring.InstancePort) {
		cfg.InstancePort = port
	}
	lc, err := ring.NewLifecycler(cfg, "ruler", a.ringKV, a.logger.With("component", "ruler-lifecycler"), a.reg)
	if err != nil {
		return nil, nil, fmt.Errorf("building the ruler lifecycler: %w", err)
	}
	// A stopping ruler leaves the ring at once: its groups move to the
	// others without waiting for the heartbeat timeout.
	lc.SetUnregisterOnShutdown(true)
	a.cluster.AddAudience(lc.Addr())
	a.svcs = append(a.svcs, r.Service(), lc.Service())
	a.servers.internal.Handle("/ruler/ring", r)
	return r, lc, nil
}

// ruleStore returns the rule store (rule groups in the wide-column store,
// under each tenant's prefix), built once: the ruler reads it, the rules
// API writes it.
func (a *App) ruleStore() (*rulestore.Store, error) {
	if a.rules != nil {
		return a.rules, nil
	}
	if _, err := a.initStore(); err != nil {
		return nil, err
	}
	a.rules = rulestore.New(a.storeBackend)
	return a.rules, nil
}

// rulerStore lets the ruler read the rule store.
type rulerStore struct{ s *rulestore.Store }

func (rs rulerStore) ListTenants(ctx context.Context) ([]tenant.ID, error) {
	return rs.s.ListTenants(ctx)
}

func (rs rulerStore) ListGroups(ctx context.Context, t tenant.ID) ([]ruler.RuleGroup, error) {
	groups, err := rs.s.ListGroups(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]ruler.RuleGroup, len(groups))
	for i, g := range groups {
		out[i] = ruler.RuleGroup{Namespace: g.Namespace, RuleGroup: g.RuleGroup}
	}
	return out, nil
}

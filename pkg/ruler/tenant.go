package ruler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// QueryFunc evaluates one rule's expression at a time (rules.QueryFunc).
type QueryFunc = rules.QueryFunc

// tenantRules is one tenant's rules manager, its notifier and the groups
// it was given.
type tenantRules struct {
	tenant      tenant.ID
	manager     *rules.Manager
	loader      *memLoader
	settings    tenantSettings
	fingerprint [32]byte
	// empty is set once the tenant's groups are all gone from this ruler;
	// the manager runs until staleUntil to write their stale markers.
	empty       bool
	staleUntil  time.Time
	maxInterval time.Duration // the longest interval of the groups it ran
	done        chan struct{}
	r           *Ruler

	mu       sync.Mutex
	notifier *tenantNotifier // nil: no Alertmanager
}

func (r *Ruler) newTenantRules(t tenant.ID, s tenantSettings) *tenantRules {
	reg := r.regs.add(t, "manager")
	logger := r.logger.With("tenant", string(t))
	tr := &tenantRules{tenant: t, loader: newMemLoader(), settings: s, done: make(chan struct{}), r: r}
	var qf QueryFunc
	if r.d.QueryFunc != nil {
		qf = r.d.QueryFunc(t)
	} else {
		qf = rules.EngineQueryFunc(r.d.Engine, r.d.Queryable)
	}
	extURL, _ := url.Parse(s.externalURL) // checked by settings
	tr.manager = rules.NewManager(&rules.ManagerOptions{
		ExternalURL:  extURL,
		QueryFunc:    qf,
		NotifyFunc:   tr.notify,
		Context:      tenant.WithID(context.Background(), t),
		AppendableV2: pushAppendable{tenant: t, push: r.d.Push},
		Queryable:    r.d.Queryable,
		Logger:       logger,
		Registerer:   reg,
		// Restore `for` state also for groups that arrive later (from
		// another ruler, or a poll after a restart).
		RestoreNewRuleGroups: true,
		OutageTolerance:      r.d.Config.ForOutageTolerance,
		ForGracePeriod:       r.d.Config.ForGracePeriod,
		ResendDelay:          r.d.Config.ResendDelay,
		GroupLoader:          tr.loader,
		DefaultRuleQueryOffset: func() time.Duration {
			if r.d.Limits == nil {
				return 0
			}
			return time.Duration(r.d.Limits.For(t).RulerQueryOffset)
		},
	})
	if err := tr.setNotifier(s); err != nil {
		r.logger.Warn("Configuring the tenant's Alertmanagers failed; alerts are not sent", "tenant", t, "err", err)
	}
	go func() {
		defer close(tr.done)
		tr.manager.Run()
	}()
	return tr
}

// setNotifier replaces the tenant's notifier by one for s.
func (tr *tenantRules) setNotifier(s tenantSettings) error {
	var n *tenantNotifier
	if len(s.alertmanagers) > 0 {
		// Each notifier registers its metrics anew: it gets a registry
		// of its own, replacing its predecessor's.
		reg := tr.r.regs.add(tr.tenant, "notifier")
		var err error
		n, err = newTenantNotifier(tr.tenant, s.alertmanagers, tr.r.d.Config, labels.FromMap(s.externalLabels), tr.r.logger.With("tenant", string(tr.tenant)), reg)
		if err != nil {
			return err
		}
	}
	tr.mu.Lock()
	old := tr.notifier
	tr.notifier = n
	tr.settings = s
	tr.mu.Unlock()
	if old != nil {
		old.stop()
	}
	return nil
}

func (tr *tenantRules) notify(ctx context.Context, expr string, alerts ...*rules.Alert) {
	tr.mu.Lock()
	n, s := tr.notifier, tr.settings
	tr.mu.Unlock()
	if n == nil {
		return
	}
	notifyFunc(n.n, s.externalURL)(ctx, expr, alerts...)
}

// update gives the manager the tenant's groups; nil removes them all (with
// stale markers for their series).
func (tr *tenantRules) update(groups []RuleGroup, interval time.Duration) error {
	byNamespace := map[string]*rulefmt.RuleGroups{}
	for _, g := range groups {
		rg := byNamespace[g.Namespace]
		if rg == nil {
			rg = &rulefmt.RuleGroups{}
			byNamespace[g.Namespace] = rg
		}
		rg.Groups = append(rg.Groups, g.RuleGroup)
	}
	tr.loader.set(byNamespace)
	tr.maxInterval = max(tr.maxInterval, maxInterval(groups, interval))
	tr.mu.Lock()
	s := tr.settings
	tr.mu.Unlock()
	namespaces := slices.Sorted(maps.Keys(byNamespace))
	if err := tr.manager.Update(interval, namespaces, labels.FromMap(s.externalLabels), s.externalURL, nil); err != nil {
		return fmt.Errorf("updating the rules manager of tenant %s: %w", tr.tenant, err)
	}
	return nil
}

func (tr *tenantRules) stop() {
	tr.manager.Stop()
	<-tr.done
	tr.mu.Lock()
	n := tr.notifier
	tr.notifier = nil
	tr.mu.Unlock()
	if n != nil {
		n.stop()
	}
}

// memLoader is a rules.GroupLoader over rule groups in memory: the
// identifier the manager loads is the namespace.
type memLoader struct {
	mu     sync.Mutex
	groups map[string]*rulefmt.RuleGroups
	parser parser.Parser
}

func newMemLoader() *memLoader {
	return &memLoader{parser: parser.NewParser(parser.Options{})}
}

func (l *memLoader) set(groups map[string]*rulefmt.RuleGroups) {
	l.mu.Lock()
	l.groups = groups
	l.mu.Unlock()
}

// Load returns the namespace's groups.
func (l *memLoader) Load(namespace string, _ bool, _ model.ValidationScheme) (*rulefmt.RuleGroups, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	g, ok := l.groups[namespace]
	if !ok {
		return nil, []error{errors.New("unknown namespace " + namespace)}
	}
	return g, nil
}

// Parse parses a rule's expression.
func (l *memLoader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

package ruler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/dns"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/strutil"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// AlertmanagerURL is one parsed entry of -ruler.alertmanager-url.
type AlertmanagerURL struct {
	// URL is the Alertmanager's base URL, without the discovery prefix.
	URL *url.URL
	// Discovery is "" (the host as given), "dns" (A/AAAA records of the
	// host, at the URL's port) or "dnssrv" (SRV records of the host).
	Discovery string
}

// ParseAlertmanagerURLs parses a comma-separated list of Alertmanager URLs.
func ParseAlertmanagerURLs(s string) ([]AlertmanagerURL, error) {
	var out []AlertmanagerURL
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		var am AlertmanagerURL
		switch {
		case strings.HasPrefix(raw, "dnssrv+"):
			am.Discovery, raw = "dnssrv", strings.TrimPrefix(raw, "dnssrv+")
		case strings.HasPrefix(raw, "dns+"):
			am.Discovery, raw = "dns", strings.TrimPrefix(raw, "dns+")
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("parsing Alertmanager URL %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("alertmanager URL %q: want an http or https URL", raw)
		}
		if u.Host == "" {
			return nil, fmt.Errorf("alertmanager URL %q: no host", raw)
		}
		if am.Discovery == "dns" && u.Port() == "" {
			return nil, fmt.Errorf("alertmanager URL dns+%s: a port is needed to resolve A records", raw)
		}
		am.URL = u
		out = append(out, am)
	}
	return out, nil
}

// alertmanagerConfigs turns parsed URLs into the notifier's configuration
// and the static target groups of the URLs without discovery, by config
// key (as config.AlertmanagerConfigs.ToMap names them).
func alertmanagerConfigs(ams []AlertmanagerURL, timeout time.Duration) (config.AlertmanagerConfigs, map[string][]*targetgroup.Group) {
	var cfgs config.AlertmanagerConfigs
	static := map[string][]*targetgroup.Group{}
	for i, am := range ams {
		c := &config.AlertmanagerConfig{
			APIVersion:       config.AlertmanagerAPIVersionV2,
			Scheme:           am.URL.Scheme,
			PathPrefix:       am.URL.Path,
			Timeout:          model.Duration(timeout),
			HTTPClientConfig: commoncfg.DefaultHTTPClientConfig,
		}
		if u := am.URL.User; u != nil {
			pw, _ := u.Password()
			c.HTTPClientConfig.BasicAuth = &commoncfg.BasicAuth{Username: u.Username(), Password: commoncfg.Secret(pw)}
		}
		key := "config-" + strconv.Itoa(i)
		switch am.Discovery {
		case "":
			tg := &targetgroup.Group{Source: key, Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(am.URL.Host)}}}
			c.ServiceDiscoveryConfigs = discovery.Configs{discovery.StaticConfig{tg}}
			static[key] = []*targetgroup.Group{tg}
		case "dns", "dnssrv":
			sd := &dns.SDConfig{Names: []string{am.URL.Hostname()}, RefreshInterval: model.Duration(30 * time.Second), Type: "A"}
			if am.Discovery == "dnssrv" {
				sd.Type = "SRV"
			} else {
				sd.Port, _ = strconv.Atoi(am.URL.Port())
			}
			c.ServiceDiscoveryConfigs = discovery.Configs{sd}
		}
		cfgs = append(cfgs, c)
	}
	return cfgs, static
}

// tenantNotifier sends one tenant's alerts to its Alertmanagers.
type tenantNotifier struct {
	n      *notifier.Manager
	sd     *discovery.Manager // nil without DNS discovery
	cancel context.CancelFunc
	done   chan struct{}
}

// newTenantNotifier starts a notifier for t sending to ams. Alerts carry
// X-Scope-OrgID: t, so a multi-tenant Alertmanager files them under t.
func newTenantNotifier(t tenant.ID, ams []AlertmanagerURL, cfg Config, externalLabels labels.Labels, logger *slog.Logger, reg prometheus.Registerer) (*tenantNotifier, error) {
	n := notifier.NewManager(&notifier.Options{
		QueueCapacity: cfg.NotificationQueueCapacity,
		Registerer:    reg,
		Do: func(ctx context.Context, client *http.Client, req *http.Request) (*http.Response, error) {
			req.Header.Set(tenant.Header, string(t))
			return client.Do(req.WithContext(ctx))
		},
	}, model.UTF8Validation, logger)
	amCfgs, static := alertmanagerConfigs(ams, cfg.NotificationTimeout)
	pcfg := &config.Config{GlobalConfig: config.DefaultGlobalConfig}
	pcfg.GlobalConfig.ExternalLabels = externalLabels
	pcfg.AlertingConfig.AlertmanagerConfigs = amCfgs
	if err := n.ApplyConfig(pcfg); err != nil {
		return nil, fmt.Errorf("configuring the notifier of tenant %s: %w", t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &tenantNotifier{n: n, cancel: cancel, done: make(chan struct{})}
	tsets := make(chan map[string][]*targetgroup.Group, 1)
	needSD := len(static) < len(amCfgs)
	if needSD {
		sdMetrics, err := discovery.CreateAndRegisterSDMetrics(reg)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("registering discovery metrics of tenant %s: %w", t, err)
		}
		tn.sd = discovery.NewManager(ctx, logger, reg, sdMetrics, discovery.Name("notify"))
		if tn.sd == nil {
			cancel()
			return nil, errors.New("building the Alertmanager discovery")
		}
		sdCfgs := map[string]discovery.Configs{}
		for k, v := range amCfgs.ToMap() {
			sdCfgs[k] = v.ServiceDiscoveryConfigs
		}
		if err := tn.sd.ApplyConfig(sdCfgs); err != nil {
			cancel()
			return nil, fmt.Errorf("configuring the Alertmanager discovery of tenant %s: %w", t, err)
		}
		go func() { _ = tn.sd.Run() }()
	} else {
		tsets <- static
	}
	go func() {
		defer close(tn.done)
		if needSD {
			n.Run(tn.sd.SyncCh())
			return
		}
		n.Run(tsets)
	}()
	return tn, nil
}

// stop stops sending; queued alerts are dropped.
func (tn *tenantNotifier) stop() {
	tn.n.Stop()
	tn.cancel()
	<-tn.done
}

// notifyFunc sends the rules manager's alerts through the notifier, as
// Prometheus's sendAlerts does: a resolved alert ends at its resolution,
// a firing one at ValidUntil, and the generator URL links the expression.
func notifyFunc(n *notifier.Manager, externalURL string) rules.NotifyFunc {
	return func(_ context.Context, expr string, alerts ...*rules.Alert) {
		if len(alerts) == 0 {
			return
		}
		res := make([]*notifier.Alert, 0, len(alerts))
		for _, a := range alerts {
			na := &notifier.Alert{
				StartsAt:     a.FiredAt,
				Labels:       a.Labels,
				Annotations:  a.Annotations,
				GeneratorURL: externalURL + strutil.TableLinkForExpression(expr),
			}
			if !a.ResolvedAt.IsZero() {
				na.EndsAt = a.ResolvedAt
			} else {
				na.EndsAt = a.ValidUntil
			}
			res = append(res, na)
		}
		n.Send(res...)
	}
}

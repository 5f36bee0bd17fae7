package ruler

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/ruler/configapi"
)

// Config is the `ruler:` section.
type Config struct {
	EvaluationInterval time.Duration `yaml:"evaluation_interval"`
	PollInterval       time.Duration `yaml:"poll_interval"`
	AlertmanagerURL    string        `yaml:"alertmanager_url"`
	External           struct {
		URL string `yaml:"url"`
	} `yaml:"external"`
	QueryFrontend struct {
		Address string `yaml:"address"`
	} `yaml:"query_frontend"`
	ForOutageTolerance        time.Duration `yaml:"for_outage_tolerance"`
	ForGracePeriod            time.Duration `yaml:"for_grace_period"`
	ResendDelay               time.Duration `yaml:"resend_delay"`
	NotificationQueueCapacity int           `yaml:"notification_queue_capacity"`
	NotificationTimeout       time.Duration `yaml:"notification_timeout"`
	// MaxRuleGroupBytes bounds a rule group written through the rules
	// configuration API (package ruler/configapi).
	MaxRuleGroupBytes int `yaml:"max_rule_group_bytes"`
	// RingCheckPeriod is how often the ruler recomputes which groups it
	// owns from the ring, between polls of the store.
	RingCheckPeriod time.Duration `yaml:"ring_check_period"`

	Ring ring.Config `yaml:"ring"`
}

// RegisterFlags registers the -ruler.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 1m: Cortex's and Mimir's default, and Prometheus's global default.
	f.DurationVar(&c.EvaluationInterval, "ruler.evaluation-interval", time.Minute, "How often a rule group is evaluated when it sets no interval of its own.")
	f.DurationVar(&c.PollInterval, "ruler.poll-interval", time.Minute, "How often the ruler reads the rule store for changed rule groups; a change made through this process's API is picked up at once.")
	f.StringVar(&c.AlertmanagerURL, "ruler.alertmanager-url", "", "Comma-separated Alertmanager URLs alerts are sent to (API v2), e.g. http://alertmanager:9093. A host written dns+http://host:port/path is resolved with A/AAAA records, dnssrv+http://_service._tcp.host/path with SRV records, as in Cortex. A tenant's ruler_alertmanager_url limit replaces it for that tenant. Empty: alerts are evaluated but sent nowhere.")
	f.StringVar(&c.External.URL, "ruler.external.url", "", "URL of the UI the alerts' generator URL points to (Grafana's explore, for example). Empty: the ruler's own /prometheus path.")
	f.StringVar(&c.QueryFrontend.Address, "ruler.query-frontend.address", "", "HTTP address (http://host:port) of the query frontend; rule queries then go through it (with its fairness and cache) instead of running in this process. The `for` state is always restored in process.")
	// 1h and 10m: Prometheus's and Cortex's defaults.
	f.DurationVar(&c.ForOutageTolerance, "ruler.for-outage-tolerance", time.Hour, "Longest ruler outage after which an alert's `for` state is still restored from ALERTS_FOR_STATE.")
	f.DurationVar(&c.ForGracePeriod, "ruler.for-grace-period", 10*time.Minute, "Minimum time an alert whose `for` is at least this long stays pending after its state is restored. See also -ruler.for-outage-tolerance.")
	f.DurationVar(&c.ResendDelay, "ruler.resend-delay", time.Minute, "Minimum time between two notifications of one firing alert.")
	// 10000 and 10s: Cortex's defaults.
	f.IntVar(&c.NotificationQueueCapacity, "ruler.notification-queue-capacity", 10000, "Alerts queued per tenant for the Alertmanager; older ones are dropped past it.")
	f.DurationVar(&c.NotificationTimeout, "ruler.notification-timeout", 10*time.Second, "Timeout of one notification request to an Alertmanager.")
	f.DurationVar(&c.RingCheckPeriod, "ruler.ring-check-period", 5*time.Second, "How often the ruler recomputes which rule groups it owns from the ring, so a dead ruler's groups move within the ring's heartbeat timeout plus this.")
	f.IntVar(&c.MaxRuleGroupBytes, "ruler.max-rule-group-bytes", configapi.DefaultMaxRuleGroupBytes, fmt.Sprintf("Largest rule group body the rules API takes, in bytes; a larger one is refused with 413 before it is read whole. At most %d. See also -ruler.max-rules-per-rule-group.", configapi.MaxRuleGroupBytesLimit))
	c.Ring.RegisterFlagsWithPrefix("ruler.ring.", f)
	// One ruler evaluates each group; the ring never replicates it.
	c.Ring.ReplicationFactor = 1
	if fl := f.Lookup("ruler.ring.replication-factor"); fl != nil {
		fl.DefValue = "1"
	}
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	for name, d := range map[string]time.Duration{
		"ruler.evaluation_interval":  c.EvaluationInterval,
		"ruler.poll_interval":        c.PollInterval,
		"ruler.notification_timeout": c.NotificationTimeout,
		"ruler.ring_check_period":    c.RingCheckPeriod,
		"ruler.for_outage_tolerance": c.ForOutageTolerance,
		"ruler.resend_delay":         c.ResendDelay,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s, must be positive", name, d))
		}
	}
	if c.ForGracePeriod < 0 {
		errs = append(errs, fmt.Errorf("ruler.for_grace_period: %s, must not be negative", c.ForGracePeriod))
	}
	if c.MaxRuleGroupBytes <= 0 || c.MaxRuleGroupBytes > configapi.MaxRuleGroupBytesLimit {
		errs = append(errs, fmt.Errorf("ruler.max_rule_group_bytes: %d, must be between 1 and %d", c.MaxRuleGroupBytes, configapi.MaxRuleGroupBytesLimit))
	}
	if c.NotificationQueueCapacity <= 0 {
		errs = append(errs, fmt.Errorf("ruler.notification_queue_capacity: %d, must be positive", c.NotificationQueueCapacity))
	}
	if _, err := ParseAlertmanagerURLs(c.AlertmanagerURL); err != nil {
		errs = append(errs, fmt.Errorf("ruler.alertmanager_url: %w", err))
	}
	if c.External.URL != "" {
		if _, err := url.Parse(c.External.URL); err != nil {
			errs = append(errs, fmt.Errorf("ruler.external.url: %w", err))
		}
	}
	if a := c.QueryFrontend.Address; a != "" && !strings.HasPrefix(a, "http://") && !strings.HasPrefix(a, "https://") {
		errs = append(errs, fmt.Errorf("ruler.query_frontend.address %q: want http://host:port or https://host:port", a))
	}
	if c.Ring.ReplicationFactor != 1 {
		errs = append(errs, fmt.Errorf("ruler.ring.replication_factor is %d: a rule group is evaluated by exactly one ruler, must be 1", c.Ring.ReplicationFactor))
	}
	errs = append(errs, c.Ring.Validate())
	return errors.Join(errs...)
}

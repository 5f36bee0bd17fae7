package frontend

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"
)

// Config is the `frontend:` section.
type Config struct {
	// MaxRetries is how many times a query is tried when it fails with a
	// 5xx or loses its querier.
	MaxRetries int `yaml:"max_retries"`
	// ShutdownGracePeriod is how long a stopping frontend lets queriers
	// drain its queue.
	ShutdownGracePeriod time.Duration `yaml:"shutdown_grace_period"`
	// LogQueriesLongerThan logs queries slower than this; 0 logs none.
	LogQueriesLongerThan time.Duration `yaml:"log_queries_longer_than"`
	// RulerURL is where rules configuration and state requests go, with
	// the caller's credentials; empty sends them to the queriers, which
	// answer 404.
	RulerURL string `yaml:"ruler_url"`
}

// RegisterFlags registers the -frontend.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	// 5: Cortex's default; a query is tried at most this many times.
	f.IntVar(&c.MaxRetries, "frontend.max-retries", 5, "How many times a query is tried when it fails with a 5xx or its querier is lost; 4xx are never retried.")
	// 30s: the in-flight queries of a dashboard refresh finish well within.
	f.DurationVar(&c.ShutdownGracePeriod, "frontend.shutdown-grace-period", 30*time.Second, "How long a stopping query frontend lets queriers drain its queue before it fails what is left with 503. See also -server.graceful-shutdown-timeout.")
	f.DurationVar(&c.LogQueriesLongerThan, "frontend.log-queries-longer-than", 0, "Log queries that take longer than this, with tenant, query, range, step and where the time went. 0 disables.")
	f.StringVar(&c.RulerURL, "frontend.ruler-url", "", "Base URL (http://host:port) of the rulers: the query frontend proxies rules configuration and state (<prefix>/config/v1/rules, <prefix>/api/v1/rules, <prefix>/api/v1/alerts) there with the caller's credentials. Empty leaves them to the queriers (404).")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxRetries < 1 {
		errs = append(errs, fmt.Errorf("frontend.max_retries %d: must be at least 1 (one try)", c.MaxRetries))
	}
	if c.ShutdownGracePeriod < 0 || c.LogQueriesLongerThan < 0 {
		errs = append(errs, errors.New("frontend.shutdown_grace_period and frontend.log_queries_longer_than must not be negative"))
	}
	if c.RulerURL != "" {
		if u, err := url.Parse(c.RulerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("frontend.ruler_url %q: want http(s)://host:port", c.RulerURL))
		}
	}
	return errors.Join(errs...)
}

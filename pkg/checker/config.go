package checker

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config is everything a run needs. Register its flags with
// [Config.RegisterFlags], check it with [Config.Validate].
type Config struct {
	// URL is the remote-write 1.0 endpoint.
	URL string
	// QueryURL is the base of the Prometheus HTTP API (the part before
	// /api/v1/query). Empty: the scheme and host of URL plus /prometheus.
	QueryURL string
	// Tenant is sent as X-Scope-OrgID, or as the Basic-auth user when
	// APIKey is set.
	Tenant string
	APIKey string
	// RunID is the run_id label of every series. Empty: a random one.
	RunID string

	Series   int
	Interval time.Duration
	// Duration bounds [Run]; 0 runs until its context ends.
	Duration time.Duration
	// Timeout bounds one push or query request.
	Timeout time.Duration

	// CheckInterval is the period of the checks during the run (0: none);
	// each reads back the last CheckSpan and expects every sample
	// acknowledged at least Settle earlier.
	CheckInterval time.Duration
	CheckSpan     time.Duration
	Settle        time.Duration
	// FinalTimeout bounds the final read-back: it is repeated while
	// queries fail or acknowledged samples are missing.
	FinalTimeout time.Duration

	// SummaryJSON, when set, is where the command writes the summary.
	SummaryJSON string
}

// maxSeries bounds -series: every push carries one sample of each series.
const maxSeries = 100_000

// RegisterFlags registers the flags of a run on f with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/api/v1/push", "Remote-write 1.0 endpoint to push to.")
	f.StringVar(&c.QueryURL, "query-url", "", "Prometheus HTTP API base URL to read back from, e.g. http://127.0.0.1:9009/prometheus. Empty: the scheme and host of -url plus /prometheus.")
	f.StringVar(&c.Tenant, "tenant", "hearth-check", "Tenant, sent as X-Scope-OrgID, or as the Basic-auth user with -api-key.")
	f.StringVar(&c.APIKey, "api-key", "", "API key sent as the Basic-auth password (user = -tenant) instead of X-Scope-OrgID.")
	f.StringVar(&c.RunID, "run-id", "", "run_id label of the written series, so runs do not collide (letters, digits, '_', '-', '.'). Empty: a random one.")
	f.IntVar(&c.Series, "series", 100, "Number of series; every push carries one sample of each.")
	f.DurationVar(&c.Interval, "interval", time.Second, "Time between pushes (ticks missed while a push is retried are skipped).")
	f.DurationVar(&c.Duration, "duration", time.Minute, "Length of the writing phase before the final read-back (0: until interrupted).")
	f.DurationVar(&c.Timeout, "timeout", 10*time.Second, "Timeout of one push or query request.")
	f.DurationVar(&c.CheckInterval, "check-interval", 10*time.Second, "Period of the read-backs during the run (0: only the final one). See also -settle and -check-span.")
	f.DurationVar(&c.CheckSpan, "check-span", 10*time.Minute, "How far back each read-back during the run looks.")
	f.DurationVar(&c.Settle, "settle", 5*time.Second, "How long after its acknowledgement a sample must be readable by the read-backs during the run.")
	f.DurationVar(&c.FinalTimeout, "final-timeout", time.Minute, "How long the final read-back is repeated while queries fail or acknowledged samples are missing.")
	f.StringVar(&c.SummaryJSON, "summary-json", "", "Also write the summary as JSON to this file.")
}

// Validate reports every problem of c.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.URL); err != nil || u.Scheme == "" || u.Host == "" {
		add("-url %q is not an absolute URL", c.URL)
	}
	if c.QueryURL != "" {
		if u, err := url.Parse(c.QueryURL); err != nil || u.Scheme == "" || u.Host == "" {
			add("-query-url %q is not an absolute URL", c.QueryURL)
		}
	}
	if c.Tenant == "" {
		add("-tenant is empty")
	}
	if strings.TrimLeft(c.RunID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != "" {
		add("-run-id %q has characters other than letters, digits, '_', '-' and '.'", c.RunID)
	}
	if c.Series < 1 || c.Series > maxSeries {
		add("-series %d is not in [1, %d]", c.Series, maxSeries)
	}
	if c.Interval < time.Millisecond {
		add("-interval %v is under 1ms", c.Interval)
	}
	nonNegative := []struct {
		name string
		v    time.Duration
	}{{"-duration", c.Duration}, {"-check-interval", c.CheckInterval}, {"-settle", c.Settle}, {"-final-timeout", c.FinalTimeout}}
	for _, d := range nonNegative {
		if d.v < 0 {
			add("%s %v is negative", d.name, d.v)
		}
	}
	if c.Timeout <= 0 {
		add("-timeout %v must be positive", c.Timeout)
	}
	if c.CheckInterval > 0 && c.CheckSpan <= 0 {
		add("-check-span %v must be positive with -check-interval", c.CheckSpan)
	}
	return errors.Join(errs...)
}

// queryURL is QueryURL or its default.
func (c *Config) queryURL() string {
	if c.QueryURL != "" {
		return strings.TrimSuffix(c.QueryURL, "/")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/prometheus"
}

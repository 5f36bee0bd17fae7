package loadgen

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Protocol is the remote-write protocol version a run speaks.
type Protocol string

// The supported remote-write protocols.
const (
	ProtocolRW1 Protocol = "rw1"
	ProtocolRW2 Protocol = "rw2"
)

// Config is everything a run needs. Register its flags with
// [Config.RegisterFlags], check it with [Config.Validate].
type Config struct {
	// Target.
	URL         string
	Protocol    Protocol
	Tenant      string
	Tenants     int
	APIKey      string
	BearerToken string
	Headers     headerList
	Timeout     time.Duration

	// Series shape (per tenant).
	Series            int
	GaugeFraction     float64
	NativeHistograms  int
	ClassicHistograms int
	SeriesPerMetric   int
	LabelCount        int
	Churn             float64
	Jitter            time.Duration
	Seed              uint64

	// Pacing.
	Interval    time.Duration
	MaxRate     bool
	Backfill    time.Duration
	Concurrency int
	BatchSize   int
	MaxRetries  int

	// Bounds.
	Duration time.Duration
	Requests int
	Rounds   int

	// Queries.
	QueryURL         string
	QueryRate        float64
	QueryConcurrency int

	// Output.
	SummaryJSON string
	LiveEvery   time.Duration
}

// RegisterFlags registers the flags of a run on f with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.URL, "url", "http://127.0.0.1:9009/api/v1/push", "Remote-write endpoint to push to.")
	f.StringVar((*string)(&c.Protocol), "protocol", string(ProtocolRW1), "Remote-write protocol: rw1 (prometheus.WriteRequest) or rw2 (io.prometheus.write.v2.Request).")
	f.StringVar(&c.Tenant, "tenant", "loadgen", "Tenant sent as X-Scope-OrgID (and as the Basic-auth user with -api-key). With -tenants > 1 the tenants are <tenant>-0 … <tenant>-N-1.")
	f.IntVar(&c.Tenants, "tenants", 1, "Number of tenants; each gets the full series set of -series, -native-histograms and -classic-histograms.")
	f.StringVar(&c.APIKey, "api-key", "", "API key sent as Basic auth (user = tenant, password = key). See also -bearer-token.")
	f.StringVar(&c.BearerToken, "bearer-token", "", "Token sent as 'Authorization: Bearer <token>'. See also -api-key.")
	f.Var(&c.Headers, "header", "Extra request header 'Name: value' on pushes and queries (repeatable).")
	f.DurationVar(&c.Timeout, "timeout", 30*time.Second, "Timeout of one push or query request.")

	f.IntVar(&c.Series, "series", 10000, "Float series per tenant: counters and gauges (see -gauge-fraction).")
	f.Float64Var(&c.GaugeFraction, "gauge-fraction", 0.5, "Fraction of -series that are gauges (random walk); the rest are counters.")
	f.IntVar(&c.NativeHistograms, "native-histograms", 0, "Native histogram series per tenant (integer, exponential schema 3).")
	f.IntVar(&c.ClassicHistograms, "classic-histograms", 0, "Classic histograms per tenant; each is 14 series (11 buckets, +Inf, _sum, _count).")
	f.IntVar(&c.SeriesPerMetric, "series-per-metric", 1000, "Series per metric name: series_id/N is the number in the name (loadgen_counter_<n>_total).")
	f.IntVar(&c.LabelCount, "label-count", 5, "Extra constant labels per series (label_00=\"value_00\" …), besides __name__, series_id, cycle_id and cardinality_1e1…1e6.")
	f.Float64Var(&c.Churn, "churn", 0, "Percent of the series replaced every interval (new cycle_id, state reset).")
	f.DurationVar(&c.Jitter, "jitter", 0, "Random timestamp offset in [-jitter, +jitter] per sample; must be under half of -interval.")
	f.Uint64Var(&c.Seed, "seed", 1, "Seed of the value generators (runs with the same flags send the same values).")

	f.DurationVar(&c.Interval, "interval", 15*time.Second, "Scrape interval: every series gets one sample per interval, timestamped at the interval's tick (the first at the next multiple of the interval) and sent spread over the interval. With -max-rate, the step between rounds' timestamps.")
	f.BoolVar(&c.MaxRate, "max-rate", false, "Push as fast as possible instead of pacing on -interval; timestamps start -backfill in the past and advance by -interval per round until they reach the wall clock, then follow it.")
	f.DurationVar(&c.Backfill, "backfill", time.Hour, "With -max-rate, how far in the past the first round's timestamps are: e.g. -backfill=12h -rounds=2880 writes 12h of 15s samples, enough for several 2h blocks.")
	f.IntVar(&c.Concurrency, "concurrency", 4, "Concurrent pushers; each owns a fixed share of the batches, so one series' samples stay in order.")
	f.IntVar(&c.BatchSize, "batch-size", 1000, "Series per remote-write request.")
	f.IntVar(&c.MaxRetries, "max-retries", 5, "Retries of a request answered 5xx or 429 (exponential backoff from 50ms to 2s); 4xx are dropped.")

	f.DurationVar(&c.Duration, "duration", time.Minute, "Length of the run. See also -requests.")
	f.IntVar(&c.Requests, "requests", 0, "Stop after this many push requests (0: only -duration bounds the run).")
	f.IntVar(&c.Rounds, "rounds", 0, "Stop after this many rounds (every series once per round), e.g. -max-rate -rounds=240 backfills 1h at 15s (0: no limit).")

	f.StringVar(&c.QueryURL, "query-url", "", "Prometheus HTTP API base URL for the query mix (e.g. http://127.0.0.1:9009/prometheus or http://127.0.0.1:9090). Empty: no queries.")
	f.Float64Var(&c.QueryRate, "query-rate", 0, "Queries per second of the query mix (0: none). Needs -query-url.")
	f.IntVar(&c.QueryConcurrency, "query-concurrency", 4, "Queries in flight at most.")

	f.StringVar(&c.SummaryJSON, "summary-json", "", "Write the final summary as JSON to this file.")
	f.DurationVar(&c.LiveEvery, "live-every", time.Second, "Period of the live line on stderr (0: none).")
}

// Validate reports every problem of c.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.URL); err != nil || u.Scheme == "" || u.Host == "" {
		add("-url %q is not an absolute URL", c.URL)
	}
	if c.Protocol != ProtocolRW1 && c.Protocol != ProtocolRW2 {
		add("-protocol %q is neither rw1 nor rw2", c.Protocol)
	}
	if c.Tenant == "" {
		add("-tenant is empty")
	}
	if c.Tenants < 1 {
		add("-tenants %d is under 1", c.Tenants)
	}
	if c.APIKey != "" && c.BearerToken != "" {
		add("-api-key and -bearer-token are exclusive")
	}
	if c.Series < 0 || c.NativeHistograms < 0 || c.ClassicHistograms < 0 {
		add("series counts must not be negative")
	}
	if c.Series+c.NativeHistograms+c.ClassicHistograms == 0 {
		add("no series: set -series, -native-histograms or -classic-histograms")
	}
	if c.GaugeFraction < 0 || c.GaugeFraction > 1 {
		add("-gauge-fraction %v is not in [0, 1]", c.GaugeFraction)
	}
	if c.SeriesPerMetric < 1 {
		add("-series-per-metric %d is under 1", c.SeriesPerMetric)
	}
	if c.LabelCount < 0 || c.LabelCount > 100 {
		add("-label-count %d is not in [0, 100]", c.LabelCount)
	}
	if c.Churn < 0 || c.Churn > 100 {
		add("-churn %v is not a percentage", c.Churn)
	}
	if c.Interval < time.Millisecond {
		add("-interval %v is under 1ms", c.Interval)
	}
	if c.Backfill < 0 {
		add("-backfill %v must not be negative", c.Backfill)
	}
	if c.Jitter < 0 || 2*c.Jitter >= c.Interval {
		add("-jitter %v must be in [0, -interval/2)", c.Jitter)
	}
	if c.Concurrency < 1 {
		add("-concurrency %d is under 1", c.Concurrency)
	}
	if c.BatchSize < 1 {
		add("-batch-size %d is under 1", c.BatchSize)
	}
	if c.MaxRetries < 0 {
		add("-max-retries %d is negative", c.MaxRetries)
	}
	if c.Duration <= 0 {
		add("-duration %v must be positive: every run is bounded", c.Duration)
	}
	if c.Requests < 0 || c.Rounds < 0 {
		add("-requests %d and -rounds %d must not be negative", c.Requests, c.Rounds)
	}
	if c.QueryRate < 0 {
		add("-query-rate %v is negative", c.QueryRate)
	}
	if c.QueryRate > 0 && c.QueryURL == "" {
		add("-query-rate needs -query-url")
	}
	if c.QueryRate > 0 && c.QueryConcurrency < 1 {
		add("-query-concurrency %d is under 1", c.QueryConcurrency)
	}
	if c.Timeout <= 0 {
		add("-timeout %v must be positive", c.Timeout)
	}
	return errors.Join(errs...)
}

// tenantNames returns the tenant IDs of the run.
func (c *Config) tenantNames() []string {
	if c.Tenants == 1 {
		return []string{c.Tenant}
	}
	names := make([]string, c.Tenants)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", c.Tenant, i)
	}
	return names
}

// headerList is a repeatable 'Name: value' flag.
type headerList [][2]string

func (h *headerList) String() string {
	parts := make([]string, len(*h))
	for i, kv := range *h {
		parts[i] = kv[0] + ": " + kv[1]
	}
	return strings.Join(parts, ", ")
}

func (h *headerList) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("header %q is not 'Name: value'", s)
	}
	*h = append(*h, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
	return nil
}

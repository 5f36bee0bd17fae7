package app

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/clientpool"
	"github.com/hearthmetrics/hearth/pkg/distributor"
	"github.com/hearthmetrics/hearth/pkg/distributor/hatracker"
	"github.com/hearthmetrics/hearth/pkg/distributor/ratelimit"
	"github.com/hearthmetrics/hearth/pkg/flusher"
	"github.com/hearthmetrics/hearth/pkg/frontend"
	"github.com/hearthmetrics/hearth/pkg/frontend/queryrange"
	"github.com/hearthmetrics/hearth/pkg/frontend/worker"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/kv/memberlist"
	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/querier"
	"github.com/hearthmetrics/hearth/pkg/ring"
	"github.com/hearthmetrics/hearth/pkg/ruler"
	"github.com/hearthmetrics/hearth/pkg/usage"
)

// Targets a process can run. "all" is every component in one process.
const (
	TargetAll         = "all"
	TargetDistributor = "distributor"
	TargetIngester    = "ingester"
	TargetQuerier     = "querier"
	TargetRuler       = "ruler"
	// TargetQueryFrontend is the query frontend: it serves the Prometheus
	// API and queues queries for the queriers that pull them.
	TargetQueryFrontend = "query-frontend"
)

var knownTargets = []string{TargetAll, TargetDistributor, TargetIngester, TargetQuerier, TargetQueryFrontend, TargetRuler}

// Config is a process's whole configuration. Each field is one component's
// section; its YAML key is the flag prefix of that component.
type Config struct {
	Target     targetList `yaml:"target"`
	ConfigFile string     `yaml:"-"`
	// PrintVersion prints the version and exits (-version).
	PrintVersion bool `yaml:"-"`

	Server  ServerConfig  `yaml:"server"`
	Log     LogConfig     `yaml:"log"`
	Storage StorageConfig `yaml:"storage"`
	Store   StoreConfig   `yaml:"store"`

	// Limits are the per-tenant defaults; their flags keep Cortex's names
	// (-validation.*, -ingester.max-*, ...) and their YAML keys are the flag
	// names after the first dot, in snake case.
	Limits limits.Limits `yaml:"limits"`

	Auth auth.Config `yaml:"auth"`
	// TenantFederation lets one read span several tenants.
	TenantFederation auth.FederationConfig `yaml:"tenant_federation"`
	Memberlist       memberlist.Config     `yaml:"memberlist"`
	Distributor      DistributorConfig     `yaml:"distributor"`
	RuntimeConfig    limits.Config         `yaml:"runtime_config"`
	IngesterClient   clientpool.Config     `yaml:"ingester_client"`
	Ingester         IngesterConfig        `yaml:"ingester"`
	Querier          QuerierConfig         `yaml:"querier"`
	Frontend         FrontendConfig        `yaml:"frontend"`
	Ruler            ruler.Config          `yaml:"ruler"`
	// SelfMonitoring writes the process's metrics into a reserved tenant.
	SelfMonitoring SelfMonitoringConfig `yaml:"self_monitoring"`
	// Usage is the per-tenant usage ledger (docs/usage.md).
	Usage usage.Config `yaml:"usage"`
}

// FrontendConfig is the `frontend:` section: the query frontend's queue
// and retries, and its range-query middlewares (split, results cache,
// sharding).
type FrontendConfig struct {
	frontend.Config `yaml:",inline"`
	QueryRange      queryrange.Config `yaml:",inline"`
}

// QuerierConfig is the `querier:` section: the querier's own settings and
// its workers, which pull queries from query frontends.
type QuerierConfig struct {
	querier.Config `yaml:",inline"`
	Worker         worker.Config `yaml:",inline"`
}

// DistributorConfig is the `distributor:` section: the distributor's own
// settings, its rate limiter, its HA tracker and its ring (used to share a
// global ingestion rate limit among the distributors).
type DistributorConfig struct {
	distributor.Config `yaml:",inline"`
	RateLimit          ratelimit.Config `yaml:",inline"`
	HATracker          hatracker.Config `yaml:"ha_tracker"`
	Ring               ring.Config      `yaml:"ring"`
}

// IngesterConfig is the `ingester:` section: the ingester's own settings and
// its ring, which distributors and queriers read too.
type IngesterConfig struct {
	ingester.Config `yaml:",inline"`
	Flush           flusher.Config `yaml:",inline"`
	Ring            ring.Config    `yaml:"ring"`
	// UnregisterOnShutdown makes a stopping ingester leave the ring. Off by
	// default: an ingester with a WAL keeps its tokens across a restart and
	// takes its place back; scale-down goes through /ingester/shutdown.
	UnregisterOnShutdown bool `yaml:"unregister_on_shutdown"`
}

// StorageConfig says where a process keeps its data.
type StorageConfig struct {
	Dir string `yaml:"dir"`
}

// RegisterFlags registers every flag of the process. defaultTarget is the
// binary's own component ("all" for cmd/hearth).
func (c *Config) RegisterFlags(f *flag.FlagSet, defaultTarget string) {
	c.Target = targetList{defaultTarget}
	f.Var(&c.Target, "target", "Comma-separated components to run: "+strings.Join(knownTargets, ", ")+".")
	f.StringVar(&c.ConfigFile, configFileFlag, "", "YAML file with the same keys as the flags; flags given on the command line win.")
	f.BoolVar(&c.PrintVersion, versionFlag, false, "Print the version and exit.")
	c.Server.RegisterFlags(f)
	c.Log.RegisterFlags(f)
	f.StringVar(&c.Storage.Dir, "storage.dir", "./data", "Directory for everything this process keeps on disk (ingester WAL and blocks, the embedded store).")
	c.Store.RegisterFlags(f)
	c.Auth.RegisterFlags(f)
	c.TenantFederation.RegisterFlags(f)
	c.Limits.RegisterFlags(f)
	c.Memberlist.RegisterFlags(f)
	c.Distributor.Config.RegisterFlags(f)
	c.Distributor.RateLimit.RegisterFlags(f)
	c.Distributor.HATracker.RegisterFlags(f)
	c.Distributor.Ring.RegisterFlagsWithPrefix("distributor.ring.", f)
	c.RuntimeConfig.RegisterFlags(f)
	c.IngesterClient.RegisterFlagsWithPrefix("ingester-client", f)
	c.Ingester.Config.RegisterFlags(f)
	c.Ingester.Flush.RegisterFlags(f)
	c.Ingester.Ring.RegisterFlagsWithPrefix("ingester.ring.", f)
	f.BoolVar(&c.Ingester.UnregisterOnShutdown, "ingester.unregister-on-shutdown", false, "Leave the ring on shutdown. Off by default: a restarted ingester replays its WAL and takes its tokens back (see -ingester.ring.tokens-file-path).")
	c.Querier.Config.RegisterFlags(f)
	c.Querier.Worker.RegisterFlags(f)
	c.Frontend.Config.RegisterFlags(f)
	c.Frontend.QueryRange.RegisterFlags(f)
	c.Ruler.RegisterFlags(f)
	c.SelfMonitoring.RegisterFlags(f)
	c.Usage.RegisterFlags(f)
}

// applyDerivedDefaults fills the settings whose default depends on others,
// where the operator gave none.
func (c *Config) applyDerivedDefaults(explicit explicitSet) {
	if !explicit.has(&c.Ingester.Dir) {
		c.Ingester.Dir = filepath.Join(c.Storage.Dir, "ingester")
	}
	if !explicit.has(&c.Auth.OperatorTokenFile) {
		c.Auth.OperatorTokenFile = filepath.Join(c.Storage.Dir, auth.OperatorTokenFileName)
	}
	if !explicit.has(&c.Store.Pebble.Dir) {
		c.Store.Pebble.Dir = defaultPebbleDir(c.Storage.Dir)
	}
	// The tokens file sits next to the WAL it must match.
	if !explicit.has(&c.Ingester.Ring.TokensFilePath) {
		c.Ingester.Ring.TokensFilePath = filepath.Join(c.Storage.Dir, "ingester-tokens")
	}
	// An ingester named in its ring keeps that name for its usage rows.
	if !explicit.has(&c.Usage.InstanceID) && explicit.has(&c.Ingester.Ring.InstanceID) {
		c.Usage.InstanceID = c.Ingester.Ring.InstanceID
	}
	// The all-in-one monitors itself so that the mixin's dashboards work
	// on `make run`; a cluster is scraped by a Prometheus.
	if !explicit.has(&c.SelfMonitoring.Enabled) && slices.Contains(c.Target, TargetAll) {
		c.SelfMonitoring.Enabled = true
	}
	// One process holds the only ingester: replicating 3 ways is impossible,
	// so the all-in-one defaults to 1. Anything else keeps 3, and an
	// explicit value is never changed.
	if !explicit.has(&c.Ingester.Ring.ReplicationFactor) && slices.Contains(c.Target, TargetAll) {
		c.Ingester.Ring.ReplicationFactor = 1
	}
	// The all-in-one's one querier runs every shard of a sharded query on
	// the same cores as the whole query would, and 16 shards queue 16
	// sub-queries ahead of the next query: its default is no sharding
	// (Cortex's and Mimir's default everywhere). BENCHMARKS.md, "Query
	// over a large head (issue #18)". A tenant's override still shards.
	if !explicit.has(&c.Limits.QueryShardingTotalShards) && slices.Contains(c.Target, TargetAll) {
		c.Limits.QueryShardingTotalShards = 0
	}
	// The all-in-one's gossip and gRPC serve only itself: nobody else needs
	// them, so they listen on loopback until the process is told to reach
	// others (a join address, or an address it advertises to them). An
	// explicit listen address is never changed.
	if slices.Contains(c.Target, TargetAll) && !c.reachesOthers() {
		if !explicit.has(&c.Memberlist.BindAddr) {
			c.Memberlist.BindAddr = "127.0.0.1"
		}
		if _, port, err := net.SplitHostPort(c.Server.GRPCListenAddress); err == nil && !explicit.has(&c.Server.GRPCListenAddress) {
			c.Server.GRPCListenAddress = net.JoinHostPort("127.0.0.1", port)
		}
	}
}

// reachesOthers reports whether the process is configured to talk to other
// processes: it joins some, or advertises a non-loopback gossip or gRPC
// address to them.
func (c *Config) reachesOthers() bool {
	nonLoopback := func(addr string) bool {
		ip := net.ParseIP(addr)
		return addr != "" && (ip == nil || !ip.IsLoopback())
	}
	return len(c.Memberlist.Join) > 0 || nonLoopback(c.Memberlist.AdvertiseAddr) || nonLoopback(c.Ingester.Ring.InstanceAddr)
}

// maxMessageSize is the largest message the process accepts or sends over
// gRPC: the distributor's HTTP limit, so both limits agree.
func (c *Config) maxMessageSize() int {
	return c.Distributor.GRPCMaxSendMsgSize()
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	for _, t := range c.Target {
		if !slices.Contains(knownTargets, t) {
			errs = append(errs, fmt.Errorf("target %q: want one of %s", t, strings.Join(knownTargets, ", ")))
		}
	}
	if len(c.Target) == 0 {
		errs = append(errs, errors.New("target: none given"))
	}
	if c.Storage.Dir == "" {
		errs = append(errs, errors.New("storage.dir: empty"))
	}
	errs = append(errs, c.Server.Validate(), c.Log.Validate(), c.Limits.Validate(), c.Store.Validate(c.has(TargetAll)), c.Auth.Validate(),
		c.Memberlist.Validate(), c.Querier.Config.Validate(), c.Querier.Worker.Validate(), c.Distributor.Config.Validate(), c.IngesterClient.Validate(), c.RuntimeConfig.Validate(), c.SelfMonitoring.Validate(), c.Usage.Validate())
	if c.has(TargetDistributor) {
		errs = append(errs, c.Distributor.RateLimit.Validate(), c.Distributor.HATracker.Validate())
		if c.Distributor.RateLimit.Strategy == ratelimit.StrategyGlobal {
			errs = append(errs, c.Distributor.Ring.Validate())
		}
	}
	if c.has(TargetQueryFrontend) {
		errs = append(errs, c.Frontend.Validate(), c.Frontend.QueryRange.Validate())
	}
	if c.has(TargetIngester) {
		errs = append(errs, c.Ingester.Config.Validate(), c.Ingester.Flush.Validate())
	}
	// Recent data must never fall between ingesters and store: ingesters
	// keep flushed blocks longer than queriers wait before asking the store.
	if ret, after := time.Duration(c.Ingester.RetentionPeriod), c.Querier.QueryStoreAfter; after > 0 && ret < after+time.Hour {
		errs = append(errs, fmt.Errorf("ingester.retention_period %s must exceed querier.query_store_after %s by at least 1h, or recent data falls between ingesters and store", ret, after))
	}
	errs = append(errs, c.Ingester.Ring.Validate())
	if c.has(TargetRuler) {
		errs = append(errs, c.validateRuler())
	}
	// Authenticated gRPC behind open gossip would let anyone who reaches the
	// gossip port join the ring and receive pushes. The key is derived from
	// the cluster secret when there is one; mutual TLS alone has none.
	if c.Auth.GRPCTLSCertFile != "" && c.Auth.ClusterSecret.IsZero() && c.Auth.ClusterSecretFile == "" && c.Memberlist.SecretKey == "" {
		errs = append(errs, errors.New("memberlist.secret_key: required with auth.grpc_tls_* and no cluster secret, or anyone who reaches the gossip port joins the ring unauthenticated; set -memberlist.secret-key (the same on every member) or -auth.cluster-secret-file"))
	}
	// The all-in-one generates a random cluster secret when it has none,
	// which no other process shares: joining others needs a common one.
	if c.has(TargetAll) && len(c.Memberlist.Join) > 0 && c.Auth.Mode != auth.ModeNone && !c.Auth.HasClusterCredential() {
		errs = append(errs, errors.New("memberlist.join: the all-in-one joins other processes only with a shared cluster credential; set -auth.cluster-secret-file (the same on every process) or -auth.grpc-tls-*"))
	}
	return errors.Join(errs...)
}

// has reports whether the process runs target t.
func (c *Config) has(t string) bool {
	return slices.Contains(c.Target, TargetAll) || slices.Contains(c.Target, t)
}

// targetList is a comma-separated flag value.
type targetList []string

func (t *targetList) String() string { return strings.Join(*t, ",") }

func (t *targetList) Set(s string) error {
	*t = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*t = append(*t, p)
		}
	}
	return nil
}

// UnmarshalYAML accepts "all", "a,b" and a YAML list.
func (t *targetList) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind == yaml.ScalarNode {
		return t.Set(node.Value)
	}
	var list []string
	if err := node.Decode(&list); err != nil {
		return err
	}
	*t = list
	return nil
}

// MarshalYAML writes the list as one comma-separated string.
func (t targetList) MarshalYAML() (any, error) { return t.String(), nil }

// redacted returns a copy of the configuration safe to show: secrets are
// replaced by a marker.
func (c *Config) redacted() *Config {
	out := *c
	if out.Memberlist.SecretKey != "" {
		out.Memberlist.SecretKey = "<secret>"
	}
	return &out
}

package limits

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Config says where the runtime overrides file is and how often it is read.
// Its flags are -runtime-config.*; the YAML section is `runtime_config:`.
type Config struct {
	File         string        `yaml:"file"`
	ReloadPeriod time.Duration `yaml:"reload_period"`
}

// RegisterFlags registers the -runtime-config.* flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.File, "runtime-config.file", "", "YAML file of per-tenant limits, `overrides: {<tenant>: {<limit>: <value>}}`, reloaded when it changes. A tenant's entry starts from the defaults (the -validation.*, -distributor.*, -ingester.*, -querier.* limit flags). Empty means no overrides.")
	// 10s is Cortex's default: an override applies within seconds, and
	// reading a small file that often costs nothing.
	f.DurationVar(&c.ReloadPeriod, "runtime-config.reload-period", 10*time.Second, "How often -runtime-config.file is read; it is applied when its content changed.")
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	if c.File != "" && c.ReloadPeriod <= 0 {
		return fmt.Errorf("runtime-config.reload-period is %s, must be positive", c.ReloadPeriod)
	}
	return nil
}

// runtimeFile is the runtime config file's layout. Unknown keys are errors.
type runtimeFile struct {
	Overrides map[string]yaml.Node `yaml:"overrides"`
}

// ParseOverrides parses a runtime config file. Each tenant's entry starts
// from defaults, so it only lists what differs. It reports every invalid
// tenant ID, unknown key and invalid limit.
func ParseOverrides(b []byte, defaults Limits) (map[tenant.ID]*Limits, error) {
	var f runtimeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parsing runtime config: %w", err)
	}
	out := make(map[tenant.ID]*Limits, len(f.Overrides))
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(f.Overrides)) {
		if err := tenant.Validate(name); err != nil {
			errs = append(errs, fmt.Errorf("overrides of tenant %q: %w", name, err))
			continue
		}
		node := f.Overrides[name]
		l := defaults
		if err := decodeStrict(&node, &l); err != nil {
			errs = append(errs, fmt.Errorf("overrides of tenant %s: %w", name, err))
			continue
		}
		if err := l.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("overrides of tenant %s: %w", name, err))
			continue
		}
		out[tenant.ID(name)] = &l
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// decodeStrict decodes node into v, refusing unknown keys (Node.Decode
// cannot).
func decodeStrict(node *yaml.Node, v any) error {
	if node.Kind == 0 || node.Tag == "!!null" {
		return nil // `tenant:` with nothing: the defaults
	}
	b, err := yaml.Marshal(node)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// RuntimeConfig keeps [Overrides] in step with the runtime config file: it
// loads the file when its service starts (failing the start when the file
// is invalid) and reads it again every reload period, applying it when its
// content changed. A bad reload keeps the last good overrides.
type RuntimeConfig struct {
	cfg       Config
	overrides *Overrides
	logger    *slog.Logger
	svc       *services.Service

	mu       sync.Mutex
	lastHash [sha256.Size]byte // of the content last tried, good or bad
	tried    bool

	reloads        *prometheus.CounterVec
	lastSuccessful prometheus.Gauge
	lastSuccessAt  prometheus.Gauge
}

// NewRuntimeConfig returns the runtime config of o. With no file configured
// its service does nothing and o keeps only its defaults.
func NewRuntimeConfig(cfg Config, o *Overrides, logger *slog.Logger, reg prometheus.Registerer) *RuntimeConfig {
	f := promauto.With(reg)
	r := &RuntimeConfig{
		cfg: cfg, overrides: o, logger: logger,
		reloads: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_runtime_config_reloads_total",
			Help: "Reads of a changed runtime config file, by status (success, failure).",
		}, []string{"status"}),
		lastSuccessful: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_runtime_config_last_reload_successful",
			Help: "1 when the last read of the runtime config file was applied, 0 when it was invalid and the previous overrides are kept.",
		}),
		lastSuccessAt: f.NewGauge(prometheus.GaugeOpts{
			Name: "hearth_runtime_config_last_reload_success_timestamp_seconds",
			Help: "When the runtime config file was last applied.",
		}),
	}
	r.svc = services.New("runtime-config", r.start, r.run, nil)
	return r
}

// Service loads the file when it starts and reloads it while it runs.
// Start it before the components that read the limits.
func (r *RuntimeConfig) Service() *services.Service { return r.svc }

func (r *RuntimeConfig) start(context.Context) error {
	if r.cfg.File == "" {
		return nil
	}
	if err := r.Reload(); err != nil {
		return fmt.Errorf("loading -runtime-config.file: %w", err)
	}
	return nil
}

func (r *RuntimeConfig) run(ctx context.Context) error {
	if r.cfg.File == "" {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(r.cfg.ReloadPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Reload(); err != nil {
				r.logger.Error("Reloading runtime config failed, keeping the previous overrides", "err", err, "file", r.cfg.File)
			}
		}
	}
}

// Reload reads the file and applies it when its content changed since the
// last read. On error the overrides are unchanged. Safe for concurrent use.
func (r *RuntimeConfig) Reload() error {
	b, err := os.ReadFile(r.cfg.File)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		// An unreadable file is a failure each time: it may come back.
		r.tried = false
		r.fail()
		return fmt.Errorf("reading runtime config: %w", err)
	}
	h := sha256.Sum256(b)
	if r.tried && h == r.lastHash {
		return nil
	}
	r.lastHash, r.tried = h, true
	perTenant, err := ParseOverrides(b, r.overrides.Defaults())
	if err != nil {
		r.fail()
		return fmt.Errorf("%s: %w", r.cfg.File, err)
	}
	r.overrides.Set(perTenant)
	r.reloads.WithLabelValues("success").Inc()
	r.lastSuccessful.Set(1)
	r.lastSuccessAt.SetToCurrentTime()
	r.logger.Info("Runtime config loaded", "file", r.cfg.File, "tenants", len(perTenant))
	return nil
}

func (r *RuntimeConfig) fail() {
	r.reloads.WithLabelValues("failure").Inc()
	r.lastSuccessful.Set(0)
}

// Handler serves GET /runtime_config: the defaults and every tenant's
// limits, in YAML. With ?mode=diff it shows only what each tenant's
// limits change from the defaults, which is what the file should say.
// It is an operator endpoint: it shows every tenant.
func (r *RuntimeConfig) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		out, err := r.render(req.URL.Query().Get("mode") == "diff")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/yaml; charset=utf-8")
		_, _ = w.Write(out)
	})
}

func (r *RuntimeConfig) render(diff bool) ([]byte, error) {
	defaults := r.overrides.Defaults()
	all := r.overrides.All()
	if !diff {
		doc := struct {
			Defaults  Limits                `yaml:"defaults"`
			Overrides map[tenant.ID]*Limits `yaml:"overrides"`
		}{defaults, all}
		return yaml.Marshal(doc)
	}
	base, err := limitsMap(&defaults)
	if err != nil {
		return nil, err
	}
	changed := make(map[tenant.ID]map[string]any, len(all))
	for t, l := range all {
		m, err := limitsMap(l)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			if reflect.DeepEqual(base[k], v) {
				delete(m, k)
			}
		}
		changed[t] = m
	}
	return yaml.Marshal(map[string]any{"overrides": changed})
}

// limitsMap is l as a YAML map, keyed like the file.
func limitsMap(l *Limits) (map[string]any, error) {
	b, err := yaml.Marshal(l)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

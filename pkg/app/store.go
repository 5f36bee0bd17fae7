package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/hearthmetrics/hearth/pkg/chunk"
	"github.com/hearthmetrics/hearth/pkg/retention"
	"github.com/hearthmetrics/hearth/pkg/services"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/usage"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/bigtable"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

// Store backends.
const (
	StoreBackendPebble   = "pebble"
	StoreBackendBigtable = "bigtable"
)

// StoreConfig selects and configures the long-term store: the wide-column
// table holding the chunk store, the API keys and every other namespace of
// package widecolumn.
type StoreConfig struct {
	retention.Config `yaml:",inline"`

	Backend  string              `yaml:"backend"`
	Pebble   StorePebbleConfig   `yaml:"pebble"`
	Bigtable StoreBigtableConfig `yaml:"bigtable"`
}

// StorePebbleConfig configures the embedded store.
type StorePebbleConfig struct {
	Dir string `yaml:"dir"`
}

// StoreBigtableConfig names the Bigtable table. The client honours
// BIGTABLE_EMULATOR_HOST.
type StoreBigtableConfig struct {
	Project     string `yaml:"project"`
	Instance    string `yaml:"instance"`
	Table       string `yaml:"table"`
	CreateTable bool   `yaml:"create_table"`
}

// RegisterFlags registers the store flags.
func (c *StoreConfig) RegisterFlags(f *flag.FlagSet) {
	c.Config.RegisterFlags(f)
	f.StringVar(&c.Backend, "store.backend", StoreBackendPebble, "Long-term store: pebble (embedded, one process only: the all-in-one) or bigtable (a cluster). See also -store.pebble.dir and -store.bigtable.*.")
	f.StringVar(&c.Pebble.Dir, "store.pebble.dir", "", "Directory of the embedded store. Default: <storage.dir>/store.")
	f.StringVar(&c.Bigtable.Project, "store.bigtable.project", "", "Bigtable project.")
	f.StringVar(&c.Bigtable.Instance, "store.bigtable.instance", "", "Bigtable instance.")
	f.StringVar(&c.Bigtable.Table, "store.bigtable.table", "hearth", "Bigtable table holding every tenant's index, chunks and API keys.")
	f.BoolVar(&c.Bigtable.CreateTable, "store.bigtable.create-table", false, "Create the table and its column family when missing (needs admin rights).")
}

// Validate reports every invalid setting. allInOne says every component
// runs in this process; a cluster's processes cannot share an embedded
// store.
func (c *StoreConfig) Validate(allInOne bool) error {
	errs := []error{c.Config.Validate()}
	switch c.Backend {
	case StoreBackendPebble:
		if !allInOne {
			errs = append(errs, errors.New("store.backend pebble is embedded in one process: a cluster's components need -store.backend=bigtable"))
		}
	case StoreBackendBigtable:
		if c.Bigtable.Project == "" || c.Bigtable.Instance == "" || c.Bigtable.Table == "" {
			errs = append(errs, errors.New("store.bigtable: project, instance and table are required"))
		}
	default:
		errs = append(errs, fmt.Errorf("store.backend %q: want pebble or bigtable", c.Backend))
	}
	return errors.Join(errs...)
}

// initStore opens the backend and the chunk store on it, once, for the
// components that need them. The backend closes when the store service
// stops, after every component that uses it.
func (a *App) initStore() (*chunk.Store, error) {
	if a.store != nil {
		return a.store, nil
	}
	var (
		backend widecolumn.Backend
		err     error
	)
	logger := a.logger.With("component", "store")
	switch a.cfg.Store.Backend {
	case StoreBackendPebble:
		opts := pebble.DefaultOptions()
		opts.Dir = a.cfg.Store.Pebble.Dir
		backend, err = pebble.Open(opts, logger)
	case StoreBackendBigtable:
		opts := bigtable.DefaultOptions()
		opts.Project, opts.Instance, opts.Table = a.cfg.Store.Bigtable.Project, a.cfg.Store.Bigtable.Instance, a.cfg.Store.Bigtable.Table
		opts.CreateTable = a.cfg.Store.Bigtable.CreateTable
		backend, err = bigtable.New(context.Background(), opts, logger, a.reg)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the %s store: %w", a.cfg.Store.Backend, err)
	}
	a.storeBackend = backend
	a.store, err = chunk.New(backend, chunk.DefaultOptions(), logger, a.reg)
	if err != nil {
		backend.Close()
		return nil, fmt.Errorf("building the chunk store: %w", err)
	}
	a.storeSvc = services.New("store", nil, nil, func(error) error {
		return backend.Close()
	})
	return a.store, nil
}

func defaultPebbleDir(storageDir string) string { return filepath.Join(storageDir, "store") }

// initRetention runs the retention enforcer and the usage sizer in the
// processes that hold the querier (one per cluster is enough; several are
// harmless).
func (a *App) initRetention(explicitSet) error {
	if !a.cfg.has(TargetQuerier) {
		return nil
	}
	st, err := a.initStore()
	if err != nil {
		return err
	}
	enf, err := retention.NewEnforcer(retention.Deps{
		Config:     a.cfg.Store.Config,
		Store:      st,
		Overrides:  a.overrides,
		Logger:     a.logger.With("component", "retention"),
		Registerer: a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the retention enforcer: %w", err)
	}
	a.svcs = append(a.svcs, enf.Service())
	// The tenants' stored bytes are measured where retention runs.
	sizer, err := usage.NewSizer(usage.SizerDeps{
		Interval:   a.cfg.Usage.StoreScanInterval,
		Store:      st,
		Table:      a.storeBackend,
		Logger:     a.logger.With("component", "usage-sizer"),
		Registerer: a.reg,
	})
	if err != nil {
		return fmt.Errorf("building the usage sizer: %w", err)
	}
	a.svcs = append(a.svcs, sizer.Service())
	return nil
}

// initDeleter builds tenant deletion over what this process holds: the
// ingester before the flusher (no new block gets queued), the flusher before
// the store (no flush writes rows after the drop), the usage ledger last.
func (a *App) initDeleter(explicitSet) error {
	var local []retention.LocalDeleter
	if a.ingester != nil {
		local = append(local, a.ingester, a.flusher)
	}
	// The ledger last: it folds what the others counted, then forgets
	// the tenant, so its next write does not bring back the rows the
	// deletion drops.
	local = append(local, a.usage)
	a.deleter = retention.NewDeleter(retention.DeleterDeps{
		Logger:     a.logger.With("component", "tenant-deletion"),
		Registerer: a.reg,
		Table:      a.storeBackend,
		Store:      a.store,
		Local:      local,
	})
	return nil
}

// deleteTenant deletes a tenant's data in this process and every namespace
// of the store; the admin API calls it after deleting the tenant's keys. In a cluster the
// operator calls it on every ingester.
func (a *App) deleteTenant(ctx context.Context, t tenant.ID) error {
	if err := a.deleter.DeleteTenant(ctx, t); err != nil {
		return err
	}
	// Cached results of the tenant must not outlive its data: a tenant
	// created again under the same name starts from a new generation.
	return a.cacheGenerations().DeleteTenant(ctx, string(t))
}

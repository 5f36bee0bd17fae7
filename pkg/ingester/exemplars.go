package ingester

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// A tenant's exemplars live in one circular buffer of its TSDB, sized by
// the tenant's -ingester.max-exemplars (100,000 exemplars, about 6.5 MB,
// allocated whole). Most tenants of a multi-tenant ingester never send an
// exemplar, so the buffer is allocated when a tenant first appends
// exemplars; until then the TSDB's exemplar storage has size 0 whatever the
// limit (Prometheus v0.316 tsdb/exemplar.go: a storage of size 0 takes no
// exemplar and can be resized; head.go ApplyConfig resizes it, keeping the
// exemplars that fit).
//
// The WAL holds exemplars too, and the replay drops those that do not fit
// the buffer: a tenant's TSDB must open with its limit when its WAL may
// hold exemplars. The file noExemplarsFile in the tenant's directory says
// that it holds none:
//
//   - a tenant whose exemplar storage is empty once its TSDB is open (a new
//     tenant, or one whose exemplars all left its WAL, or a directory from
//     before this file existed) gets the file and a buffer of size 0;
//   - the file is removed before the buffer grows, so before any exemplar
//     reaches the WAL;
//   - a directory without the file opens with the limit.

// noExemplarsFile, in a tenant's directory, says that the tenant's WAL holds
// no exemplars (see above).
const noExemplarsFile = "no-exemplars"

// tenantStorage is a tenant's TSDB whose appenders allocate the tenant's
// exemplar buffer when the tenant first appends exemplars.
type tenantStorage struct {
	*tsdb.DB
	t *tenantDB
}

// AppenderV2 returns the TSDB's appender; until the tenant's exemplar
// buffer is allocated, wrapped to allocate it before the first exemplars.
func (s tenantStorage) AppenderV2(ctx context.Context) storage.AppenderV2 {
	app := s.DB.AppenderV2(ctx)
	if s.t.exemplarsOn.Load() {
		return app
	}
	pa, ok := app.(pushAppender)
	if !ok {
		return app
	}
	return &exemplarSizingAppender{pushAppender: pa, t: s.t}
}

// exemplarSizingAppender allocates its tenant's exemplar buffer before it
// appends the first exemplars.
type exemplarSizingAppender struct {
	pushAppender
	t *tenantDB
}

func (a *exemplarSizingAppender) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if len(opts.Exemplars) > 0 {
		a.t.enableExemplars()
	}
	return a.pushAppender.Append(ref, ls, st, t, v, h, fh, opts)
}

func (a *exemplarSizingAppender) AppendExemplars(ref storage.SeriesRef, ls labels.Labels, es []exemplar.Exemplar) (storage.SeriesRef, error) {
	if len(es) > 0 {
		a.t.enableExemplars()
	}
	return a.pushAppender.AppendExemplars(ref, ls, es)
}

// enableExemplars sizes the tenant's exemplar buffer to its limit, once.
// With a limit of 0 it does nothing: the exemplars are dropped, as they
// would be with a buffer of that size, and the next exemplars try again.
func (t *tenantDB) enableExemplars() {
	t.limitsMu.Lock()
	defer t.limitsMu.Unlock()
	if t.exemplarsOn.Load() {
		return
	}
	limit := int64(t.overrides.For(t.id).MaxExemplars)
	if limit <= 0 {
		return
	}
	if err := removeNoExemplarsFile(t.dir); err != nil {
		// The exemplars are kept in memory; the next open will not replay
		// them from the WAL.
		t.logger.Warn("Removing the file that says the tenant's WAL holds no exemplars; its exemplars will not be replayed after a restart", "file", filepath.Join(t.dir, noExemplarsFile), "err", err)
	}
	if err := t.applyConfigLocked(t.appliedOOO, limit); err != nil {
		t.logger.Error("Allocating the tenant's exemplar buffer; its exemplars are dropped", "max_exemplars", limit, "err", err)
		return
	}
	t.exemplarsOn.Store(true)
	t.logger.Info("Allocated the tenant's exemplar buffer on its first exemplars", "max_exemplars", limit)
}

// settleExemplars, called once the tenant's TSDB is open, gives the
// exemplar buffer back when the replay stored no exemplar in it, and
// records that the WAL holds none (noExemplarsFile). Otherwise the buffer
// keeps the tenant's limit.
func (t *tenantDB) settleExemplars() error {
	t.limitsMu.Lock()
	defer t.limitsMu.Unlock()
	n, ok := gaugeValue(t.reg, "prometheus_tsdb_exemplar_exemplars_in_storage")
	if !ok {
		// A Prometheus upgrade renamed the gauge: keep the buffer rather
		// than risk dropping exemplars.
		t.exemplarsOn.Store(true)
		return nil
	}
	if n > 0 {
		t.exemplarsOn.Store(true)
		return nil
	}
	if err := t.applyConfigLocked(t.appliedOOO, 0); err != nil {
		return err
	}
	t.exemplarsOn.Store(false)
	if err := writeNoExemplarsFile(t.dir); err != nil {
		// Harmless: the next open allocates the buffer and gives it back.
		t.logger.Warn("Writing the file that says the tenant's WAL holds no exemplars", "file", filepath.Join(t.dir, noExemplarsFile), "err", err)
	}
	return nil
}

// hasNoExemplarsFile reports whether dir holds noExemplarsFile. A
// directory that does not exist yet holds no WAL, hence no exemplars.
func hasNoExemplarsFile(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, noExemplarsFile))
	if err == nil {
		return true
	}
	_, err = os.Stat(dir)
	return errors.Is(err, fs.ErrNotExist)
}

func writeNoExemplarsFile(dir string) error {
	path := filepath.Join(dir, noExemplarsFile)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	const text = "The WAL of this tenant holds no exemplars: its TSDB opens with an empty exemplar buffer. Hearth removes this file when the tenant first sends exemplars.\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// removeNoExemplarsFile removes noExemplarsFile and syncs dir, so that the
// removal reaches the disk before any exemplar of the tenant's WAL does.
func removeNoExemplarsFile(dir string) error {
	path := filepath.Join(dir, noExemplarsFile)
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("removing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync it: %w", dir, err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// gaugeValue returns the value of the gauge name (without labels) in g.
func gaugeValue(g prometheus.Gatherer, name string) (float64, bool) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue(), true
		}
	}
	return 0, false
}

package auth

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/backendtest"
	btbackend "github.com/hearthmetrics/hearth/pkg/widecolumn/bigtable"
	"github.com/hearthmetrics/hearth/pkg/widecolumn/pebble"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The Bigtable client's process-wide workers (as in widecolumn/bigtable).
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

// newPebble opens a Pebble backend in a temporary directory.
func newPebble(t testing.TB) *pebble.Backend { return backendtest.NewPebble(t) }

// newBigtable returns the Bigtable backend on an in-process emulator.
func newBigtable(t testing.TB) *btbackend.Backend { return backendtest.NewBigtable(t) }

// Both wide-column backends satisfy the key store's interface.
var (
	_ Backend = (*pebble.Backend)(nil)
	_ Backend = (*btbackend.Backend)(nil)
)

// memBackend is an in-memory Backend that serves key lists and key ranges
// without filters, counts reads and can be told to fail. Usable inside a synctest bubble.
type memBackend struct {
	mu    sync.Mutex
	rows  map[string]map[string][]byte
	reads atomic.Int64
	fail  atomic.Bool
}

var errInjected = errors.New("injected store failure")

func newMem() *memBackend { return &memBackend{rows: map[string]map[string][]byte{}} }

func (m *memBackend) Apply(_ context.Context, muts []widecolumn.RowMutation) error {
	if m.fail.Load() {
		return errInjected
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mut := range muts {
		r := m.rows[string(mut.Key)]
		if r == nil {
			r = map[string][]byte{}
			m.rows[string(mut.Key)] = r
		}
		for _, c := range mut.Cells {
			r[string(c.Column)] = append([]byte(nil), c.Value...)
		}
	}
	return nil
}

func (m *memBackend) Read(_ context.Context, req widecolumn.ReadRequest, fn func(widecolumn.Row) bool) error {
	m.reads.Add(1)
	if m.fail.Load() {
		return errInjected
	}
	m.mu.Lock()
	keys := req.Keys
	for _, kr := range req.Ranges {
		for k := range m.rows {
			if k >= string(kr.Start) && (kr.End == nil || k < string(kr.End)) {
				keys = append(keys, []byte(k))
			}
		}
	}
	if len(req.Ranges) > 0 {
		slices.SortFunc(keys, bytes.Compare)
	}
	var out []widecolumn.Row
	for _, k := range keys {
		r, ok := m.rows[string(k)]
		if !ok {
			continue
		}
		row := widecolumn.Row{Key: append([]byte(nil), k...)}
		for c, v := range r {
			row.Cells = append(row.Cells, widecolumn.Cell{Column: []byte(c), Value: append([]byte(nil), v...)})
		}
		sort.Slice(row.Cells, func(i, j int) bool { return bytes.Compare(row.Cells[i].Column, row.Cells[j].Column) < 0 })
		out = append(out, row)
	}
	m.mu.Unlock()
	for _, r := range out {
		if !fn(r) {
			break
		}
	}
	return nil
}

func (m *memBackend) DropPrefix(_ context.Context, prefix []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.rows {
		if bytes.HasPrefix([]byte(k), prefix) {
			delete(m.rows, k)
		}
	}
	return nil
}

// testConfig returns the flag defaults.
func testConfig() Config {
	return Config{
		Mode:             ModeAPIKeys,
		NoneTenant:       "anonymous",
		CacheTTL:         5 * time.Second,
		FailureRateLimit: 1,
		FailureBurst:     10,
	}
}

// newAuth returns an authenticator over keys, logging into logs when not
// nil, with its metrics in a fresh pedantic registry.
func newAuth(t testing.TB, cfg Config, keys *Keys, logs *bytes.Buffer) (*Authenticator, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	logger := slog.New(slog.DiscardHandler)
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	a, err := New(Deps{Config: cfg, Keys: keys, OperatorToken: NewSecret("operator-secret-for-tests"), Logger: logger, Registerer: reg})
	require.NoError(t, err)
	return a, reg
}

// runService runs s until the test ends.
func runService(t testing.TB, a *Authenticator) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := a.Service()
	require.NoError(t, s.StartAsync(ctx))
	require.NoError(t, s.AwaitRunning(ctx))
	t.Cleanup(func() {
		cancel()
		require.NoError(t, s.AwaitTerminated(context.Background()))
	})
}

func mustCreate(t testing.TB, keys *Keys, tenantID string, scopes Scope) Created {
	t.Helper()
	c, err := keys.Create(context.Background(), CreateRequest{Tenant: tenant.ID(tenantID), Name: "test", Scopes: scopes})
	require.NoError(t, err)
	return c
}

// flipLast changes a token's last character to another base32 one.
func flipLast(tok string) string {
	last := byte('a')
	if tok[len(tok)-1] == 'a' {
		last = 'b'
	}
	return tok[:len(tok)-1] + string(last)
}

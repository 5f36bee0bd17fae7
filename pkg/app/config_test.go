package app

import (
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/services"
)

// yamlPaths lists every YAML key path of the config struct t.
func yamlPaths(t reflect.Type, prefix string, into map[string]bool) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			yamlPaths(f.Type, prefix, into)
			continue
		}
		if name == "" {
			continue
		}
		into[prefix+name] = true
		yamlPaths(f.Type, prefix+name+".", into)
	}
}

// TestEveryFlagHasItsYAMLKey walks every flag and checks the YAML key its
// name promises exists: a flag -a.b-c is `a: {b_c: ...}`; a per-tenant limit
// -x.y-z is `limits: {y_z: ...}`.
func TestEveryFlagHasItsYAMLKey(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var cfg Config
	cfg.RegisterFlags(fs, TargetAll)

	limitFlags := flag.NewFlagSet("limits", flag.ContinueOnError)
	var l limits.Limits
	l.RegisterFlags(limitFlags)

	paths := map[string]bool{}
	yamlPaths(reflect.TypeOf(cfg), "", paths)

	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == configFileFlag || f.Name == versionFlag {
			return
		}
		want := yamlPath(f.Name)
		if limitFlags.Lookup(f.Name) != nil {
			_, suffix, _ := strings.Cut(f.Name, ".")
			want = "limits." + yamlPath(suffix)
		}
		require.Truef(t, paths[want], "flag -%s has no YAML key %q", f.Name, want)
	})
}

func TestParseArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hearth.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`
target: distributor,querier
store:
  backend: bigtable
  bigtable:
    project: p
    instance: i
ingester:
  ring:
    replication_factor: 5
limits:
  max_label_names_per_series: 12
querier:
  timeout: 10s
`), 0o600))
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("querier:\n  no_such_key: 1\n"), 0o600))
	empty := filepath.Join(dir, "empty.yaml")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	tests := map[string]struct {
		args      []string
		target    string
		check     func(t *testing.T, c *Config)
		wantError string
	}{
		"all-in-one defaults to replication factor 1 and a data dir under storage.dir": {
			args: []string{"-storage.dir=" + dir}, target: TargetAll,
			check: func(t *testing.T, c *Config) {
				require.Equal(t, 1, c.Ingester.Ring.ReplicationFactor)
				require.Equal(t, filepath.Join(dir, "ingester"), c.Ingester.Dir)
			},
		},
		"a component binary keeps replication factor 3": {
			args:   []string{"-store.backend=bigtable", "-store.bigtable.project=p", "-store.bigtable.instance=i"},
			target: TargetIngester,
			check: func(t *testing.T, c *Config) {
				require.Equal(t, 3, c.Ingester.Ring.ReplicationFactor)
			},
		},
		"an explicit replication factor is kept in the all-in-one": {
			args: []string{"-ingester.ring.replication-factor=3"}, target: TargetAll,
			check: func(t *testing.T, c *Config) {
				require.Equal(t, 3, c.Ingester.Ring.ReplicationFactor)
			},
		},
		"the file sets values, flags win over it": {
			args: []string{"-config.file=" + file, "-querier.timeout=20s"}, target: TargetAll,
			check: func(t *testing.T, c *Config) {
				require.Equal(t, targetList{"distributor", "querier"}, c.Target)
				require.Equal(t, 5, c.Ingester.Ring.ReplicationFactor)
				require.Equal(t, 12, c.Limits.MaxLabelNamesPerSeries)
				require.Equal(t, "20s", c.Querier.Timeout.String())
			},
		},
		"an empty file is fine": {
			args: []string{"-config.file=" + empty}, target: TargetAll,
			check: func(t *testing.T, c *Config) {},
		},
		"unknown YAML keys are errors": {
			args: []string{"-config.file=" + bad}, target: TargetAll,
			wantError: "no_such_key",
		},
		"a cluster component cannot use the embedded store": {
			target: TargetDistributor, wantError: "store.backend pebble is embedded in one process",
		},
		"bigtable needs a project and an instance": {
			args: []string{"-store.backend=bigtable"}, target: TargetAll, wantError: "store.bigtable: project, instance and table are required",
		},
		"unknown targets are errors": {
			args: []string{"-target=compactor"}, target: TargetAll,
			wantError: `target "compactor"`,
		},
		"a word after the flags is an error, not ignored": {
			args: []string{"-storage.dir=" + dir, "key", "create"}, target: TargetAll,
			wantError: `unexpected argument "key"`,
		},
		"-version needs no valid configuration": {
			args: []string{"-version"}, target: TargetDistributor,
			check: func(t *testing.T, c *Config) { require.True(t, c.PrintVersion) },
		},
		"every invalid setting is reported": {
			args: []string{"-log.level=loud", "-log.format=xml"}, target: TargetAll,
			wantError: "log.format",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, _, err := ParseArgs(tc.args, tc.target, io.Discard)
			if tc.wantError != "" {
				require.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

func TestConfigEndpointHidesSecrets(t *testing.T) {
	cfg, _, err := ParseArgs([]string{"-memberlist.secret-key=hunter2-gossip"}, TargetAll, io.Discard)
	require.NoError(t, err)
	public, internal := http.NewServeMux(), http.NewServeMux()
	registerCommonRoutes(public, internal, prometheus.NewRegistry(), func() *services.Manager { return nil }, cfg, nil)
	rec := httptest.NewRecorder()
	public.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	require.Equal(t, http.StatusNotFound, rec.Code, "/config must not be served to tenants")
	rec = httptest.NewRecorder()
	internal.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotContains(t, rec.Body.String(), "hunter2")
	require.Contains(t, rec.Body.String(), "secret_key: <secret>")
	require.Contains(t, rec.Body.String(), "replication_factor: 1")
	require.Equal(t, "hunter2-gossip", cfg.Memberlist.SecretKey, "the live configuration must keep its secret")
}

// TestExplicitSetByField: derived defaults ask by field, from a flag or a
// YAML key, and asking about a field no flag sets is a programmer error
// caught here rather than a default that silently never applies.
func TestExplicitSetByField(t *testing.T) {
	file := filepath.Join(t.TempDir(), "hearth.yaml")
	require.NoError(t, os.WriteFile(file, []byte("ingester:\n  dir: /from/yaml\n"), 0o600))
	cfg := &Config{}
	fs := flag.NewFlagSet("hearth", flag.ContinueOnError)
	cfg.RegisterFlags(fs, TargetAll)
	explicit, err := parseConfig(fs, []string{"-config.file=" + file, "-auth.operator-token-file=/from/flag"}, cfg)
	require.NoError(t, err)
	require.True(t, explicit.has(&cfg.Ingester.Dir), "given in the file")
	require.True(t, explicit.has(&cfg.Auth.OperatorTokenFile), "given as a flag")
	require.False(t, explicit.has(&cfg.Store.Pebble.Dir), "not given")
	require.Panics(t, func() { explicit.has(&cfg.Target[0]) }, "no flag sets this address")
}

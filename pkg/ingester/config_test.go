package ingester

import (
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestConfigFlagsMatchYAML(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.PanicOnError)
	c.RegisterFlags(fs)
	// Every leaf field's YAML path, dotted, is its flag name after
	// "ingester." in kebab case; nested structs are sections.
	var leaves []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for k := range typ.NumField() {
			f := typ.Field(k)
			path := prefix + f.Tag.Get("yaml")
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, path+".")
				continue
			}
			leaves = append(leaves, path)
		}
	}
	walk(reflect.TypeOf(c), "")
	for _, path := range leaves {
		name := "ingester." + strings.ReplaceAll(path, "_", "-")
		require.NotNil(t, fs.Lookup(name), "field %s: no flag -%s", path, name)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	require.Len(t, leaves, n, "every flag has a field")

	var fromYAML Config
	require.NoError(t, yaml.Unmarshal([]byte("dir: /x\nblock_range: 1h\nretention_period: 1d\n"), &fromYAML))
	require.Equal(t, Config{Dir: "/x", BlockRange: model.Duration(time.Hour), RetentionPeriod: model.Duration(24 * time.Hour)}, fromYAML)
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Config)
		wantErr []string
	}{
		"defaults are valid": {mutate: func(*Config) {}},
		"every problem is reported": {
			mutate: func(c *Config) {
				c.Dir = ""
				c.BlockRange = 0
				c.HeadCompactionInterval = -1
			},
			wantErr: []string{"ingester.dir must be set", "ingester.block-range is 0s", "ingester.head-compaction-interval"},
		},
		"block range in whole minutes": {
			mutate:  func(c *Config) { c.BlockRange = model.Duration(90 * time.Second) },
			wantErr: []string{"whole number of minutes"},
		},
		"negative limits": {
			mutate: func(c *Config) {
				c.MinFreeDiskSpaceBytes = -1
				c.InstanceLimits.MaxInflightPushRequests = -1
				c.InstanceLimits.MaxTenants = -2
			},
			wantErr: []string{"ingester.min-free-disk-space-bytes is -1", "max-inflight-push-requests is -1", "max-tenants is -2"},
		},
		"stripe size not a power of 2": {
			mutate:  func(c *Config) { c.TSDBStripeSize = 1000 },
			wantErr: []string{"ingester.tsdb-stripe-size is 1000, must be a power of 2"},
		},
		"stripe size zero": {
			mutate:  func(c *Config) { c.TSDBStripeSize = 0 },
			wantErr: []string{"ingester.tsdb-stripe-size is 0, must be a power of 2"},
		},
		"unknown WAL compression": {
			mutate:  func(c *Config) { c.WALCompression = "lz4" },
			wantErr: []string{`ingester.wal-compression is "lz4", must be none, snappy or zstd`},
		},
		"retention shorter than a block": {
			mutate:  func(c *Config) { c.RetentionPeriod = model.Duration(time.Hour) },
			wantErr: []string{"must not be shorter than ingester.block-range"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := defaultConfig("/tmp/x")
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

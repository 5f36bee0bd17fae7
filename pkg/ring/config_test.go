package ring

import (
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestConfigFlagsMatchYAML: every flag -<prefix>a-b sets the YAML key a_b,
// and only that one.
func TestConfigFlagsMatchYAML(t *testing.T) {
	const prefix = "ingester.ring."
	var cfg Config
	f := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlagsWithPrefix(prefix, f)
	before := yamlMap(t, &cfg)
	n := 0
	f.VisitAll(func(fl *flag.Flag) {
		n++
		key := strings.ReplaceAll(strings.TrimPrefix(fl.Name, prefix), "-", "_")
		saved := cfg
		setToOther(t, f, fl)
		after := yamlMap(t, &cfg)
		var changed []string
		for k := range after {
			if !reflect.DeepEqual(before[k], after[k]) {
				changed = append(changed, k)
			}
		}
		require.Equal(t, []string{key}, changed, "flag -%s", fl.Name)
		cfg = saved
	})
	require.Len(t, before, n, "every YAML key has a flag")
}

func yamlMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	m := map[string]any{}
	require.NoError(t, yaml.Unmarshal(b, &m))
	return m
}

func setToOther(t *testing.T, f *flag.FlagSet, fl *flag.Flag) {
	t.Helper()
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		require.NoError(t, f.Set(fl.Name, map[string]string{"true": "false", "false": "true"}[fl.Value.String()]))
		return
	}
	for _, v := range []string{"7s", "7"} {
		if f.Set(fl.Name, v) == nil {
			return
		}
	}
	t.Fatalf("cannot set -%s", fl.Name)
}

func TestConfigValidate(t *testing.T) {
	var cfg Config
	cfg.RegisterFlagsWithPrefix("ingester.ring.", flag.NewFlagSet("test", flag.PanicOnError))
	require.NoError(t, cfg.Validate())
	require.Equal(t, "ingester.ring", cfg.KVKey)

	cfg.ReplicationFactor = 0
	cfg.NumTokens = 0
	cfg.HeartbeatPeriod = 2 * cfg.HeartbeatTimeout
	err := cfg.Validate()
	require.ErrorContains(t, err, "-ingester.ring.replication-factor: 0")
	require.ErrorContains(t, err, "-ingester.ring.num-tokens: 0")
	require.ErrorContains(t, err, "-ingester.ring.heartbeat-period: 2m0s must be shorter")
}

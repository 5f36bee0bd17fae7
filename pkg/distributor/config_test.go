package distributor

import (
	"flag"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every flag's name after "distributor." is its YAML key in kebab case.
func TestConfigFlagAndYAMLNamesMatch(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("", flag.PanicOnError)
	c.RegisterFlags(fs)
	var yamlKeys []string
	var walk func(ty reflect.Type, prefix string)
	walk = func(ty reflect.Type, prefix string) {
		for i := range ty.NumField() {
			key := prefix + strings.Split(ty.Field(i).Tag.Get("yaml"), ",")[0]
			if ty.Field(i).Type.Kind() == reflect.Struct {
				walk(ty.Field(i).Type, key+".")
				continue
			}
			yamlKeys = append(yamlKeys, key)
		}
	}
	walk(reflect.TypeOf(c), "")
	var flagKeys []string
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := strings.CutPrefix(f.Name, "distributor.")
		require.True(t, ok, f.Name)
		flagKeys = append(flagKeys, strings.ReplaceAll(name, "-", "_"))
	})
	require.ElementsMatch(t, yamlKeys, flagKeys)
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Config)
		wantErr []string
	}{
		"defaults": {mutate: func(*Config) {}},
		"all errors listed": {
			mutate: func(c *Config) {
				c.MaxRecvMsgSize, c.RemoteTimeout = 0, -1
				c.InstanceLimits.MaxInflightPushRequests, c.InstanceLimits.MaxInflightPushRequestBytes = -1, -1
			},
			wantErr: []string{"max-recv-msg-size", "remote-timeout", "max-inflight-push-requests is -1", "max-inflight-push-request-bytes is -1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := defaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.wantErr {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

package app

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/hearthmetrics/hearth/pkg/limits"
)

const exampleCluster = "../../docs/examples/cluster.yaml"

// TestExampleClusterConfig loads docs/examples/cluster.yaml as each
// component would, and checks that every flag its comments name is the
// flag of the key it sits on, so the example shows the mapping right.
func TestExampleClusterConfig(t *testing.T) {
	for _, target := range []string{TargetDistributor, TargetIngester, TargetQuerier, TargetQueryFrontend} {
		t.Run(target, func(t *testing.T) {
			cfg, explicit, err := ParseArgs([]string{"-config.file=" + exampleCluster}, target, io.Discard)
			require.NoError(t, err)
			require.Equal(t, targetList{target}, cfg.Target)
			require.Equal(t, StoreBackendBigtable, cfg.Store.Backend)
			require.Equal(t, "my-project", cfg.Store.Bigtable.Project)
			require.Equal(t, 3, cfg.Ingester.Ring.ReplicationFactor)
			require.Equal(t, []string{"hearth-distributor-0.hearth:7946", "hearth-ingester-0.hearth:7946"}, []string(cfg.Memberlist.Join))
			require.Equal(t, 2*time.Second, cfg.Distributor.RemoteTimeout)
			require.True(t, cfg.Distributor.HATracker.Enable)
			require.Equal(t, 30, cfg.Limits.MaxLabelNamesPerSeries)
			require.True(t, cfg.Limits.AcceptHASamples)
			require.Equal(t, "/etc/hearth/overrides.yaml", cfg.RuntimeConfig.File)
			require.True(t, explicit.has(&cfg.Ingester.Ring.ReplicationFactor))
			require.Equal(t, "hearth-query-frontend.hearth:9095", cfg.Querier.Worker.FrontendAddress)
			require.Equal(t, "http://hearth-ruler.hearth:9009", cfg.Frontend.RulerURL)
		})
	}

	// The flags named in comments.
	data, err := os.ReadFile(exampleCluster)
	require.NoError(t, err)
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &root))
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	var cfg Config
	cfg.RegisterFlags(fs, TargetAll)
	limitFlags := flag.NewFlagSet("limits", flag.ContinueOnError)
	var l limits.Limits
	l.RegisterFlags(limitFlags)
	named := 0
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, value := n.Content[i], n.Content[i+1]
			path := prefix + key.Value
			comment := key.LineComment + value.LineComment
			if rest, ok := strings.CutPrefix(comment, "# -"); ok {
				name, _, _ := strings.Cut(rest, ":")
				name, _, _ = strings.Cut(name, "=")
				name = strings.Fields(name)[0]
				require.NotNil(t, fs.Lookup(name), "%s names -%s, which is no flag", path, name)
				want := yamlPath(name)
				if limitFlags.Lookup(name) != nil {
					_, suffix, _ := strings.Cut(name, ".")
					want = "limits." + yamlPath(suffix)
				}
				require.Equal(t, want, path, "the comment of %s names -%s", path, name)
				named++
			}
			walk(value, path+".")
		}
	}
	walk(root.Content[0], "")
	require.Greater(t, named, 15)
}

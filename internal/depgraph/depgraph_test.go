package depgraph

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/hearthmetrics/hearth/"

// imports lists, for every package of the module, the module packages it
// imports directly (tests excluded).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").Output()
	require.NoError(t, err)
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		graph[pkg] = nil
		for _, imp := range fields[1:] {
			if imp == "github.com/pkg/errors" {
				graph[pkg] = append(graph[pkg], imp)
			}
			if strings.HasPrefix(imp, module) {
				graph[pkg] = append(graph[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	return graph
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

func TestImportGraph(t *testing.T) {
	components := []string{"pkg/distributor", "pkg/ingester", "pkg/querier", "pkg/ruler", "pkg/frontend"}
	rules := map[string]func(pkg, imp string) bool{
		"nothing imports cmd/": func(_, imp string) bool { return !under(imp, "cmd") },
		"no github.com/pkg/errors": func(_, imp string) bool {
			return imp != "github.com/pkg/errors"
		},
		"pkg/tenant is a leaf": func(pkg, _ string) bool { return !under(pkg, "pkg/tenant") },
		"pkg/widecolumn is a leaf": func(pkg, imp string) bool {
			return !under(pkg, "pkg/widecolumn") || under(imp, "pkg/widecolumn")
		},
		"pkg/chunk imports only pkg/chunk, pkg/widecolumn and pkg/queryshard": func(pkg, imp string) bool {
			return !under(pkg, "pkg/chunk") || under(imp, "pkg/chunk") || under(imp, "pkg/widecolumn") || imp == "pkg/queryshard"
		},
		"pkg/queryshard is a leaf":  func(pkg, _ string) bool { return !under(pkg, "pkg/queryshard") },
		"pkg/promqlshape is a leaf": func(pkg, _ string) bool { return !under(pkg, "pkg/promqlshape") },
		"pkg/auth stores keys through pkg/widecolumn, never pkg/chunk": func(pkg, imp string) bool {
			return !under(pkg, "pkg/auth") || !under(imp, "pkg/chunk")
		},
		"proto/wire is a leaf": func(pkg, _ string) bool { return !under(pkg, "proto/wire") },
		"pkg/ring imports only KV, services and its proto": func(pkg, imp string) bool {
			return !under(pkg, "pkg/ring") || under(imp, "pkg/ring") || under(imp, "pkg/kv") ||
				imp == "pkg/services" || imp == "proto/ringpb"
		},
		"a component never imports another component": func(pkg, imp string) bool {
			for _, c := range components {
				for _, other := range components {
					if c != other && under(pkg, c) && under(imp, other) {
						return false
					}
				}
			}
			return true
		},
		"only cmd/ imports pkg/app": func(pkg, imp string) bool {
			return !under(imp, "pkg/app") || under(pkg, "cmd") || under(pkg, "pkg/app")
		},
	}
	graph := imports(t)
	require.NotEmpty(t, graph["pkg/distributor"], "the module's packages were not listed")
	require.Contains(t, graph["pkg/auth"], "pkg/widecolumn", "the rules below check the layout the graph has")
	require.Contains(t, graph["pkg/chunk"], "pkg/widecolumn")
	for name, ok := range rules {
		t.Run(name, func(t *testing.T) {
			for pkg, imps := range graph {
				for _, imp := range imps {
					require.Truef(t, ok(pkg, imp), "%s imports %s", pkg, imp)
				}
			}
		})
	}
}

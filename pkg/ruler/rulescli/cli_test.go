package rulescli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/ruler/configapi/configapitest"
	"github.com/hearthmetrics/hearth/pkg/ruler/rulestore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a rules API on a real server and the CLI pointed at it.
type env struct {
	srv *configapitest.Server
	key string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := configapitest.New(t, 0)
	return &env{srv: srv, key: srv.Key(t, "team-a", auth.ScopeRules)}
}

// run runs the CLI with the tenant's key in $HEARTH_API_KEY.
func (e *env) run(t *testing.T, key string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{args[0], "--addr", e.srv.URL}, args[1:]...)
	code = Run(full, &out, &errOut, func(k string) string {
		if k == KeyEnv {
			return key
		}
		return ""
	})
	return code, out.String(), errOut.String()
}

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const twoGroups = `groups:
  - name: g1
    interval: 1m
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: "g/2 ü"
    rules:
      - alert: Down
        expr: up == 0
        for: 5m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }} is down"}
`

func (e *env) groups(t *testing.T) []rulestore.Group {
	t.Helper()
	gs, err := e.srv.Store.ListGroups(context.Background(), "team-a")
	require.NoError(t, err)
	return gs
}

func TestLoadListGetDelete(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	f := write(t, dir, "team rules.yml", twoGroups)

	code, _, stderr := e.run(t, e.key, "load", f)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stderr, `Loaded group "g/2 ü" into namespace "team rules"`)
	gs := e.groups(t)
	require.Len(t, gs, 2)
	require.Equal(t, "team rules", gs[0].Namespace)

	// --namespace, after the argument, with a '/' in it.
	code, _, stderr = e.run(t, e.key, "load", f, "--namespace", "x/y")
	require.Equal(t, ExitOK, code, stderr)
	require.Len(t, e.groups(t), 4)

	code, stdout, stderr := e.run(t, e.key, "list")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stdout, "team rules  g1     1m        1")
	require.Contains(t, stdout, "x/y         g/2 ü  -         1")

	code, stdout, stderr = e.run(t, e.key, "get", "x/y", "g/2 ü")
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stdout, "alert: Down")
	code, stdout, _ = e.run(t, e.key, "get", "x/y")
	require.Equal(t, ExitOK, code)
	require.Contains(t, stdout, "x/y:")
	code, _, stderr = e.run(t, e.key, "get", "x/y", "nope")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, stderr, "no rule groups found")

	code, _, stderr = e.run(t, e.key, "delete", "x/y", "g/2 ü")
	require.Equal(t, ExitOK, code, stderr)
	require.Len(t, e.groups(t), 3)
	code, _, stderr = e.run(t, e.key, "delete", "team rules")
	require.Equal(t, ExitOK, code, stderr)
	require.Len(t, e.groups(t), 1)
	code, _, stderr = e.run(t, e.key, "delete", "team rules")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, stderr, "404")
}

func TestBadFilesSendNothing(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	cases := map[string]struct {
		files map[string]string
		want  []string
	}{
		"two groups of one name within one file": {
			files: map[string]string{"a.yml": "groups:\n  - name: g\n    rules: []\n  - name: g\n    rules: []\n"},
			want:  []string{`a.yml: 0:0: groupname: "g" is repeated in the same file`},
		},
		"a bad expression, named by group and rule": {
			files: map[string]string{"b.yml": "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: sum(up\n"},
			want:  []string{`b.yml: 5:15: group "g", rule 1, "r": could not parse expression`},
		},
		"an unknown field": {
			files: map[string]string{"c.yml": "groups:\n  - name: g\n    source_tenants: [a]\n    rules: []\n"},
			want:  []string{"field source_tenants not found"},
		},
		"invalid YAML": {
			files: map[string]string{"d.yml": "groups: ["},
			want:  []string{"d.yml: yaml:"},
		},
		"two files of one namespace": {
			files: map[string]string{"e.yml": "groups: []\n", "e.yaml": "groups: []\n"},
			want:  []string{`are both namespace "e"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var paths []string
			for n, content := range tc.files {
				paths = append(paths, write(t, dir, n, content))
			}
			for _, cmd := range []string{"load", "sync"} {
				code, _, stderr := e.run(t, e.key, append([]string{cmd}, paths...)...)
				require.Equal(t, ExitFailed, code, stderr)
				require.Contains(t, stderr, "nothing was sent")
				for _, w := range tc.want {
					require.Contains(t, stderr, w)
				}
			}
			for _, p := range paths {
				require.NoError(t, os.Remove(p))
			}
		})
	}
	require.Empty(t, e.groups(t))
	require.Zero(t, testutil.CollectAndCount(e.srv.Registry, "hearth_ruler_config_requests_total"), "no request was made")
}

func TestDiffAndSync(t *testing.T) {
	e := newEnv(t)
	// Remote: a group that stays, one that changes, one in a namespace
	// no file has.
	pre := t.TempDir()
	write(t, pre, "keep.yml", "groups:\n  - name: same\n    rules: [{record: a, expr: '1'}]\n  - name: edited\n    rules: [{record: a, expr: '1'}]\n")
	write(t, pre, "gone.yml", "groups:\n  - name: old\n    rules: [{record: a, expr: '1'}]\n")
	code, _, stderr := e.run(t, e.key, "load", filepath.Join(pre, "keep.yml"), filepath.Join(pre, "gone.yml"))
	require.Equal(t, ExitOK, code, stderr)

	dir := t.TempDir()
	// The same group written differently (flow style, empty labels) is
	// unchanged.
	write(t, dir, "keep.yml", "groups:\n  - name: same\n    labels: {}\n    rules:\n      - record: a\n        expr: '1'\n  - name: edited\n    rules: [{record: a, expr: '2'}]\n  - name: new\n    rules: [{record: b, expr: '1'}]\n")
	write(t, dir, "more rules.yaml", twoGroups)
	write(t, dir, "notes.txt", "not a rule file")

	want := `~ namespace "keep" group "edited" (1 rules)
+ namespace "keep" group "new" (1 rules)
- namespace "gone" group "old"
`
	code, stdout, stderr := e.run(t, e.key, "diff", dir)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stdout, want[:strings.Index(want, "\n")])
	require.Contains(t, stdout, `- namespace "gone" group "old"`)
	require.Contains(t, stdout, `+ namespace "more rules" group "g/2 ü" (1 rules)`)
	require.Contains(t, stdout, "3 to add, 1 to change, 1 to delete")
	require.NotContains(t, stdout, `"same"`)

	// A read key can diff, not sync.
	readKey := e.srv.Key(t, "team-a", auth.ScopeRead)
	code, _, _ = e.run(t, readKey, "diff", dir)
	require.Equal(t, ExitOK, code)
	code, _, stderr = e.run(t, readKey, "sync", dir)
	require.Equal(t, ExitFailed, code)
	require.Contains(t, stderr, "lacks the rules scope")

	code, _, stderr = e.run(t, e.key, "sync", "--dry-run", dir)
	require.Equal(t, ExitOK, code, stderr)
	require.Len(t, e.groups(t), 3, "a dry run changes nothing")

	code, _, stderr = e.run(t, e.key, "sync", dir)
	require.Equal(t, ExitOK, code, stderr)
	require.Contains(t, stderr, "Synced: 3 to add, 1 to change, 1 to delete.")
	var got []string
	for _, g := range e.groups(t) {
		got = append(got, g.Namespace+"|"+g.Name)
	}
	require.Equal(t, []string{"keep|edited", "keep|new", "keep|same", "more rules|g/2 ü", "more rules|g1"}, got)

	code, stdout, stderr = e.run(t, e.key, "sync", dir)
	require.Equal(t, ExitOK, code, stderr)
	require.Equal(t, "No changes.\n", stdout)

	// Another tenant's sync of an empty directory leaves team-a's rules.
	other := e.srv.Key(t, "team-b", auth.ScopeRules)
	code, _, stderr = e.run(t, other, "sync", t.TempDir())
	require.Equal(t, ExitOK, code, stderr)
	require.Len(t, e.groups(t), 5)
	// Syncing team-a to an empty directory deletes every group.
	code, _, stderr = e.run(t, e.key, "sync", t.TempDir())
	require.Equal(t, ExitOK, code, stderr)
	require.Empty(t, e.groups(t))
}

func TestUsage(t *testing.T) {
	e := newEnv(t)
	cases := map[string]struct {
		key  string
		args []string
		code int
		want string
	}{
		"no key":                  {"", []string{"list"}, ExitUsage, "no API key"},
		"too many arguments":      {e.key, []string{"get", "a", "b", "c"}, ExitUsage, "wrong number of arguments"},
		"load needs a file":       {e.key, []string{"load"}, ExitUsage, "wrong number of arguments"},
		"a bad tenant":            {e.key, []string{"list", "--tenant", "../x"}, ExitUsage, "--tenant"},
		"a missing file":          {e.key, []string{"load", "/nonexistent.yml"}, ExitFailed, "no such file"},
		"another tenant's key":    {e.key, []string{"list", "--tenant", "team-b"}, ExitFailed, "does not belong to tenant team-b"},
		"an empty tenant is fine": {e.key, []string{"list"}, ExitOK, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := e.run(t, tc.key, tc.args...)
			require.Equal(t, tc.code, code, stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
	var out, errOut bytes.Buffer
	require.Equal(t, ExitUsage, Run([]string{"lst"}, &out, &errOut, os.Getenv))
	require.Contains(t, errOut.String(), `unknown command "lst"`)
}

func TestSegment(t *testing.T) {
	for name, want := range map[string]string{"a/b c": "a%2Fb%20c", ".": "%2E", "..": "%2E%2E", "a.b": "a.b", "ü": "%C3%BC"} {
		require.Equal(t, want, segment(name), name)
	}
}

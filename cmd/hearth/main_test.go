package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	tests := map[string]struct {
		args       []string
		wantCode   int
		wantServe  bool
		wantStdout string
		wantStderr string
	}{
		"no arguments serve":         {args: nil, wantServe: true},
		"flags serve":                {args: []string{"-storage.dir=x"}, wantServe: true},
		"version prints the version": {args: []string{"version"}, wantStdout: "hearth, version"},
		"help lists the subcommands": {args: []string{"help"}, wantStdout: "hearth keys <command>"},
		"keys runs the key manager":  {args: []string{"keys", "help"}, wantStderr: "Manage tenants' API keys"},
		"rules runs the rules CLI":   {args: []string{"rules", "help"}, wantStderr: "Manage a tenant's recording and alerting rules"},
		"a mistyped subcommand is refused, listing the subcommands": {
			args: []string{"key", "create"}, wantCode: 2, wantStderr: `unknown command "key"`,
		},
		"a stray word is refused": {args: []string{"run"}, wantCode: 2, wantStderr: "hearth version"},
		"version takes no arguments": {
			args: []string{"version", "--short"}, wantCode: 2, wantStderr: "unexpected arguments",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			served := false
			code := run(tc.args, &stdout, &stderr, func([]string) int { served = true; return 0 })
			require.Equal(t, tc.wantCode, code, stderr.String())
			require.Equal(t, tc.wantServe, served)
			require.Contains(t, stdout.String(), tc.wantStdout)
			require.Contains(t, stderr.String(), tc.wantStderr)
		})
	}
}

// TestVersionStamped builds hearth with the -ldflags of `make build` and
// checks that `hearth version` reports the version, revision and branch
// git gives, as the Makefile says.
func TestVersionStamped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, tool := range []string{"make", "git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	out, err := exec.Command("make", "-s", "-C", root, "print-ldflags").Output()
	require.NoError(t, err)
	ldflags := strings.TrimSpace(string(out))
	want := map[string]string{}
	for _, f := range strings.Fields(ldflags) {
		if k, v, ok := strings.Cut(f, "="); ok {
			want[k[strings.LastIndex(k, ".")+1:]] = v
		}
	}
	require.NotEmpty(t, want["Version"], ldflags)
	require.Regexp(t, `^\d+\.\d+\.\d+`, want["Version"], "Grafana parses the version as semver")
	require.NotEmpty(t, want["Revision"], ldflags)

	bin := filepath.Join(t.TempDir(), "hearth")
	build := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	got, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.Contains(t, string(got), "hearth, version "+want["Version"]+" (branch: "+want["Branch"]+", revision: "+want["Revision"]+")")
	require.Contains(t, string(got), "build date:       "+want["BuildDate"])
	flagOut, err := exec.Command(bin, "-version").Output()
	require.NoError(t, err)
	require.Equal(t, string(got), string(flagOut))
}

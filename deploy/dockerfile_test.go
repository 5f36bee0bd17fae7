package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// notInImage are the cmd/ binaries the image leaves out: the load
// generator is a benchmarking tool, not part of a deployment.
var notInImage = []string{"loadgen"}

// TestDockerfile checks what can be checked without Docker: every COPY
// source exists, every package the binaries import lies in a copied
// directory (else `go build` fails in the image), and the image builds
// every cmd/ binary but those in notInImage and nothing that is not one.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	// Join continuation lines.
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	copied := map[string]bool{}
	var built []string
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "COPY":
			args := slices.DeleteFunc(slices.Clone(fields[1:]), func(a string) bool { return strings.HasPrefix(a, "--chown") })
			if len(args) > 0 && strings.HasPrefix(args[0], "--from") {
				continue
			}
			require.GreaterOrEqual(t, len(args), 2, line)
			for _, src := range args[:len(args)-1] {
				_, err := os.Stat(filepath.Join("..", src))
				require.NoErrorf(t, err, "COPY %s: no such file in the repository", src)
				copied[strings.Trim(filepath.Clean(src), "/")] = true
			}
		case "RUN":
			if strings.Contains(line, "go build") {
				for _, m := range regexp.MustCompile(`\./cmd/([a-z0-9-]+)`).FindAllStringSubmatch(line, -1) {
					built = append(built, m[1])
				}
			}
		}
	}
	require.True(t, copied["go.mod"] && copied["go.sum"], "the image copies no go.mod/go.sum")

	entries, err := os.ReadDir("../cmd")
	require.NoError(t, err)
	var want []string
	for _, e := range entries {
		if e.IsDir() && !slices.Contains(notInImage, e.Name()) {
			want = append(want, e.Name())
		}
	}
	slices.Sort(want)
	slices.Sort(built)
	require.Equal(t, want, built, "the Dockerfile's go build must build every cmd/ binary (or list it in notInImage)")

	args := []string{"list", "-deps", "-f", `{{if .Module}}{{if eq .Module.Path "github.com/hearthmetrics/hearth"}}{{.Dir}}{{end}}{{end}}`}
	for _, b := range built {
		args = append(args, "./cmd/"+b)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	require.NoError(t, err)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		require.NoError(t, err)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		require.Truef(t, copied[top], "the binaries import %s, but the Dockerfile does not COPY %s", rel, top)
	}
}

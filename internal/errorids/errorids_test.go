package errorids

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	idInCode   = regexp.MustCompile(`err-hearth-[a-z0-9]+(?:-[a-z0-9]+)*`)
	idInDocs   = regexp.MustCompile(`(?m)^### (err-hearth-[a-z0-9-]+)\s*$`)
	repository = filepath.Join("..", "..")
)

// codeIDs returns the error IDs in the module's non-test Go files, each
// with a file it appears in.
func codeIDs(t *testing.T) map[string]string {
	t.Helper()
	ids := map[string]string{}
	err := filepath.WalkDir(repository, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != repository && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range idInCode.FindAllString(string(b), -1) {
			ids[id] = path
		}
		return nil
	})
	require.NoError(t, err)
	return ids
}

func TestEveryErrorIDHasItsSection(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repository, "docs", "errors.md"))
	require.NoError(t, err)
	sections := map[string]bool{}
	for _, m := range idInDocs.FindAllStringSubmatch(string(doc), -1) {
		require.Falsef(t, sections[m[1]], "docs/errors.md has two sections %s", m[1])
		sections[m[1]] = true
	}
	code := codeIDs(t)
	require.NotEmpty(t, code, "no error ID found: is the walk looking at the module?")
	var missing, stale []string
	for id, file := range code {
		if !sections[id] {
			missing = append(missing, id+" (in "+file+")")
		}
	}
	for id := range sections {
		if _, ok := code[id]; !ok {
			stale = append(stale, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	require.Empty(t, missing, "error IDs without a section in docs/errors.md")
	require.Empty(t, stale, "sections of docs/errors.md no error in the code names")
}

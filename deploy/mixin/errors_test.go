package mixin

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// errorID is a stable error ID as the code writes it.
var errorID = regexp.MustCompile(`err-hearth-[a-z0-9]+(?:-[a-z0-9]+)*`)

// TestEveryErrorIDHasItsSection: every err-hearth-* ID in the Go code has
// a section (a heading with the ID) in docs/errors.md, so a link in an
// error message never leads nowhere.
func TestEveryErrorIDHasItsSection(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	require.NoError(t, err)
	sections := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(line, "#") {
			for _, id := range errorID.FindAllString(line, -1) {
				sections[id] = true
			}
		}
	}
	require.NotEmpty(t, sections)
	for _, root := range []string{"../../pkg", "../../proto", "../../cmd"} {
		require.NoError(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, id := range errorID.FindAllString(string(src), -1) {
				require.Truef(t, sections[id], "%s uses %s, which has no section in docs/errors.md", path, id)
			}
			return nil
		}))
	}
}

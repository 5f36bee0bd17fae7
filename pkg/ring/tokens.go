package ring

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// tokensFile is the JSON form of the tokens file: {"tokens":[1,2,3]}.
type tokensFile struct {
	Tokens []uint32 `json:"tokens"`
}

// loadTokens reads the tokens file; a missing file gives no tokens.
func loadTokens(path string) ([]uint32, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading tokens file: %w", err)
	}
	var tf tokensFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("parsing tokens file %s: %w", path, err)
	}
	slices.Sort(tf.Tokens)
	return slices.Compact(tf.Tokens), nil
}

// storeTokens writes the tokens file atomically (temporary file, then
// rename).
func storeTokens(path string, tokens []uint32) error {
	b, err := json.Marshal(tokensFile{Tokens: tokens})
	if err != nil {
		return fmt.Errorf("encoding tokens: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing tokens file: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing tokens file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("writing tokens file: %w", err)
	}
	return nil
}

// generateTokens returns have plus new random tokens up to n in total, none
// of them in taken, sorted. rnd is the source of random tokens.
func generateTokens(have []uint32, n int, taken map[uint32]bool, rnd func() uint32) []uint32 {
	out := slices.Clone(have)
	used := make(map[uint32]bool, n)
	for _, t := range have {
		used[t] = true
	}
	for len(out) < n {
		t := rnd()
		if used[t] || taken[t] {
			continue
		}
		used[t] = true
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// configFileFlag names the YAML file whose values sit between the flags'
// defaults and the flags given on the command line.
const configFileFlag = "config.file"

// explicitSet records which settings the operator gave, by flag or in the
// file, so that derived defaults apply only where nothing was given.
type explicitSet map[string]bool

// has reports whether the flag named name (e.g. "ingester.dir") was given on
// the command line or its key (ingester: dir:) in the file.
func (e explicitSet) has(name string) bool {
	return e[name] || e[yamlPath(name)]
}

// yamlPath turns a flag name into its YAML key path: "a.b-c" → "a.b_c".
func yamlPath(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// parseConfig fills cfg from defaults (already registered on fs), then the
// YAML file named by -config.file, then the flags given in args: a flag on
// the command line always wins over the file. Unknown YAML keys are errors.
func parseConfig(fs *flag.FlagSet, args []string, cfg any) (explicitSet, error) {
	// First pass: find -config.file. Errors are reported by the second pass.
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	explicit := explicitSet{}
	path := ""
	if f := fs.Lookup(configFileFlag); f != nil {
		path = f.Value.String()
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading -%s: %w", configFileFlag, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// io.EOF means an empty document: nothing to apply.
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("parsing -%s=%s: %w", configFileFlag, path, err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
			collectKeys(root.Content[0], "", explicit)
		}
	}
	// Second pass: flags given explicitly override the file.
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	return explicit, nil
}

// collectKeys records the dotted path of every mapping key under n.
func collectKeys(n *yaml.Node, prefix string, into explicitSet) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + n.Content[i].Value
		into[key] = true
		collectKeys(n.Content[i+1], key+".", into)
	}
}

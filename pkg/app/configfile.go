package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// configFileFlag names the YAML file whose values sit between the flags'
// defaults and the flags given on the command line.
const configFileFlag = "config.file"

// explicitSet records which settings the operator gave, by flag or in the
// file, so that derived defaults apply only where nothing was given. It
// knows settings by the address of the Config field a flag sets, so a
// derived default names its field (explicit.has(&cfg.Ingester.Dir)), never
// a flag's name: moving or renaming the field fails to compile, and asking
// about a field no flag sets panics in the first test that parses a
// configuration.
type explicitSet struct {
	given map[uintptr]bool // fields whose flag or YAML key was given
	flags map[uintptr]bool // every field a flag sets
}

// has reports whether the setting stored in field (a pointer into the
// parsed Config) was given on the command line or in the file.
func (e explicitSet) has(field any) bool {
	p := fieldAddr(field)
	if !e.flags[p] {
		panic(fmt.Sprintf("explicitSet.has: no flag sets the %T at %#x", field, p))
	}
	return e.given[p]
}

// fieldAddr is the address a flag value or a field pointer refers to: the
// standard library's flag values are pointers to the field they set.
func fieldAddr(v any) uintptr {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer {
		return 0
	}
	return rv.Pointer()
}

// yamlPath turns a flag name into its YAML key path: "a.b-c" → "a.b_c".
func yamlPath(flagName string) string { return strings.ReplaceAll(flagName, "-", "_") }

// parseConfig fills cfg from defaults (already registered on fs), then the
// YAML file named by -config.file, then the flags given in args: a flag on
// the command line always wins over the file. Unknown YAML keys are errors.
func parseConfig(fs *flag.FlagSet, args []string, cfg any) (explicitSet, error) {
	// First pass: find -config.file. Errors are reported by the second pass.
	if err := fs.Parse(args); err != nil {
		return explicitSet{}, err
	}
	explicit := explicitSet{given: map[uintptr]bool{}, flags: map[uintptr]bool{}}
	byPath := map[string]uintptr{}
	fs.VisitAll(func(f *flag.Flag) {
		if p := fieldAddr(f.Value); p != 0 {
			explicit.flags[p] = true
			byPath[yamlPath(f.Name)] = p
		}
	})
	path := ""
	if f := fs.Lookup(configFileFlag); f != nil {
		path = f.Value.String()
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return explicitSet{}, fmt.Errorf("reading -%s: %w", configFileFlag, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		// io.EOF means an empty document: nothing to apply.
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return explicitSet{}, fmt.Errorf("parsing -%s=%s: %w", configFileFlag, path, err)
		}
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
			collectKeys(root.Content[0], "", func(key string) {
				if p, ok := byPath[key]; ok {
					explicit.given[p] = true
				}
			})
		}
	}
	// Second pass: flags given explicitly override the file.
	if err := fs.Parse(args); err != nil {
		return explicitSet{}, err
	}
	fs.Visit(func(f *flag.Flag) {
		if p := fieldAddr(f.Value); p != 0 {
			explicit.given[p] = true
		}
	})
	return explicit, nil
}

// collectKeys calls into with the dotted path of every mapping key under n.
func collectKeys(n *yaml.Node, prefix string, into func(string)) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := prefix + n.Content[i].Value
		into(key)
		collectKeys(n.Content[i+1], key+".", into)
	}
}

package rulescli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// readFiles reads the rule files of args (files, or directories whose
// *.yml and *.yaml files are read) into namespace → groups, checking them
// as `promtool check rules` does. namespace, when not empty, is every
// group's namespace; otherwise each file's name is. Every problem of every
// file is reported.
func readFiles(args []string, namespace string) (map[string][]rulefmt.RuleGroup, error) {
	files, err := expand(args)
	if err != nil {
		return nil, err
	}
	p := parser.NewParser(parser.Options{})
	logger := slog.New(slog.DiscardHandler)
	out := map[string][]rulefmt.RuleGroup{}
	from := map[string]string{} // namespace → the file that named it
	var errs []error
	for _, f := range files {
		ns := namespace
		if ns == "" {
			ns = namespaceOf(f)
			if prev, ok := from[ns]; ok {
				errs = append(errs, fmt.Errorf("%s and %s are both namespace %q: rename one, or load them with --namespace", prev, f, ns))
				continue
			}
			from[ns] = f
		}
		rgs, ferrs := rulefmt.ParseFile(f, false, model.UTF8Validation, p, logger)
		if len(ferrs) > 0 {
			errs = append(errs, ferrs...)
			continue
		}
		for _, g := range rgs.Groups {
			if slices.ContainsFunc(out[ns], func(o rulefmt.RuleGroup) bool { return o.Name == g.Name }) {
				errs = append(errs, fmt.Errorf("%s: group %q is already in namespace %q from another file", f, g.Name, ns))
				continue
			}
			out[ns] = append(out[ns], g)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid rule files, nothing was sent:\n%w", err)
	}
	return out, nil
}

// expand lists the files of args, directories replaced by their *.yml and
// *.yaml files (not recursing), sorted within each directory.
func expand(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if ext := filepath.Ext(e.Name()); !e.IsDir() && (ext == ".yml" || ext == ".yaml") {
				files = append(files, filepath.Join(a, e.Name()))
			}
		}
	}
	return files, nil
}

type changeKind int

const (
	added changeKind = iota
	changed
	removed
)

// change is one group sync writes or deletes.
type change struct {
	kind             changeKind
	namespace, group string
	local            *rulefmt.RuleGroup
}

// plan compares the files of args with the tenant's groups: new and
// changed groups, and the tenant's groups no file has, sorted by
// namespace and group.
func plan(ctx context.Context, c *client, args []string) ([]change, error) {
	local, err := readFiles(args, "")
	if err != nil {
		return nil, err
	}
	remote, err := c.all(ctx)
	if err != nil {
		return nil, err
	}
	var out []change
	for _, ns := range sortedKeys(local) {
		for i := range local[ns] {
			g := &local[ns][i]
			j := slices.IndexFunc(remote[ns], func(r rulefmt.RuleGroup) bool { return r.Name == g.Name })
			switch {
			case j < 0:
				out = append(out, change{kind: added, namespace: ns, group: g.Name, local: g})
			case !sameGroup(*g, remote[ns][j]):
				out = append(out, change{kind: changed, namespace: ns, group: g.Name, local: g})
			}
		}
	}
	for _, ns := range sortedKeys(remote) {
		for _, r := range remote[ns] {
			if !slices.ContainsFunc(local[ns], func(g rulefmt.RuleGroup) bool { return g.Name == r.Name }) {
				out = append(out, change{kind: removed, namespace: ns, group: r.Name})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b change) int {
		if c := strings.Compare(a.namespace, b.namespace); c != 0 {
			return c
		}
		return strings.Compare(a.group, b.group)
	})
	return out, nil
}

// sameGroup compares two groups, an empty map or list equal to none.
func sameGroup(a, b rulefmt.RuleGroup) bool { return reflect.DeepEqual(normal(a), normal(b)) }

func normal(g rulefmt.RuleGroup) rulefmt.RuleGroup {
	if len(g.Labels) == 0 {
		g.Labels = nil
	}
	rules := make([]rulefmt.Rule, len(g.Rules))
	for i, r := range g.Rules {
		if len(r.Labels) == 0 {
			r.Labels = nil
		}
		if len(r.Annotations) == 0 {
			r.Annotations = nil
		}
		rules[i] = r
	}
	g.Rules = rules
	return g
}

func printChanges(w io.Writer, changes []change) {
	if len(changes) == 0 {
		fmt.Fprintln(w, "No changes.")
		return
	}
	for _, ch := range changes {
		switch ch.kind {
		case added:
			fmt.Fprintf(w, "+ namespace %q group %q (%d rules)\n", ch.namespace, ch.group, len(ch.local.Rules))
		case changed:
			fmt.Fprintf(w, "~ namespace %q group %q (%d rules)\n", ch.namespace, ch.group, len(ch.local.Rules))
		case removed:
			fmt.Fprintf(w, "- namespace %q group %q\n", ch.namespace, ch.group)
		}
	}
	fmt.Fprintln(w, summary(changes))
}

func summary(changes []change) string {
	var n [3]int
	for _, ch := range changes {
		n[ch.kind]++
	}
	return fmt.Sprintf("%d to add, %d to change, %d to delete", n[added], n[changed], n[removed])
}

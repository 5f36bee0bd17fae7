package rulescli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Exit codes of Run.
const (
	ExitOK     = 0
	ExitFailed = 1 // a request failed or was refused, or a rule file is invalid
	ExitUsage  = 2 // bad arguments; nothing was sent
)

// KeyEnv is the environment variable the API key is read from when
// --key-file is not given.
const KeyEnv = "HEARTH_API_KEY"

const usage = `Usage: hearth rules <command> [flags] [arguments]

Manage a tenant's recording and alerting rules through Hearth's rules API.

Commands:
  list                          list the namespaces and groups
  get NAMESPACE [GROUP]         print a namespace's groups, or one group, as YAML
  load FILE...                  check Prometheus rule files and write their groups
                                (namespace: --namespace, else each file's name)
  delete NAMESPACE [GROUP]      delete a group, or a whole namespace
  diff FILE|DIR...              show what sync would change
  sync FILE|DIR...              make the tenant's rules equal the files: write new and
                                changed groups, delete the others (--dry-run shows only)

Every command takes --addr, --tenant and the key (--key-file, else $HEARTH_API_KEY);
"hearth rules <command> -h" lists its flags. A DIR means its *.yml and *.yaml files.
`

// opts are every command's flags.
type opts struct {
	addr, prefix, tenant, keyFile, namespace string
	timeout                                  time.Duration
	dryRun                                   bool
}

type command struct {
	// args is the argument count allowed: at least min, at most max
	// (-1: any).
	min, max int
	flags    func(*flag.FlagSet, *opts)
	run      func(ctx context.Context, c *client, o *opts, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"list":   {min: 0, max: 0, run: runList},
	"get":    {min: 1, max: 2, run: runGet},
	"load":   {min: 1, max: -1, flags: namespaceFlag, run: runLoad},
	"delete": {min: 1, max: 2, run: runDelete},
	"diff":   {min: 1, max: -1, run: runDiff},
	"sync": {min: 1, max: -1, run: runSync, flags: func(fs *flag.FlagSet, o *opts) {
		fs.BoolVar(&o.dryRun, "dry-run", false, "Show the changes without making them.")
	}},
}

func namespaceFlag(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.namespace, "namespace", "", "Namespace to load every file's groups into; empty: each file's name without its extension.")
}

// Run runs `hearth rules` with args (the words after "rules") and returns
// the exit code. getenv reads the environment ($HEARTH_API_KEY).
func Run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hearth rules: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	name := "hearth rules " + args[0]
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &opts{}
	fs.StringVar(&o.addr, "addr", "http://127.0.0.1:9009", "Base URL of Hearth's public listener (or of the gateway in front of it).")
	fs.StringVar(&o.prefix, "prefix", "/prometheus", "The server's -querier.http-prefix; the API is <prefix>/config/v1/rules.")
	fs.StringVar(&o.tenant, "tenant", "", "Tenant ID: sent as the Basic auth user, and as X-Scope-OrgID for servers that trust that header. Empty: the key's tenant (Bearer).")
	fs.StringVar(&o.keyFile, "key-file", "", "File holding the tenant's API key (scope rules); empty: $"+KeyEnv+".")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "Time limit of the whole command.")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	// Flags may follow the arguments, as in "load a.yml --namespace x".
	var rest []string
	for list := args[1:]; ; {
		if err := fs.Parse(list); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		list = fs.Args()[1:]
	}
	if len(rest) < cmd.min || (cmd.max >= 0 && len(rest) > cmd.max) {
		fmt.Fprintf(stderr, "%s: wrong number of arguments %q\n\n%s", name, rest, usage)
		return ExitUsage
	}
	if o.tenant != "" {
		if err := tenant.Validate(o.tenant); err != nil {
			fmt.Fprintf(stderr, "%s: --tenant: %v\n", name, err)
			return ExitUsage
		}
	}
	key, err := readKey(o.keyFile, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c := newClient(o, key)
	if err := cmd.run(ctx, c, o, rest, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitFailed
	}
	return ExitOK
}

func readKey(file string, getenv func(string) string) (string, error) {
	if file == "" {
		if k := strings.TrimSpace(getenv(KeyEnv)); k != "" {
			return k, nil
		}
		return "", fmt.Errorf("no API key: set --key-file or $%s", KeyEnv)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the API key (--key-file): %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("--key-file %s is empty", file)
	}
	return k, nil
}

func runList(ctx context.Context, c *client, _ *opts, _ []string, stdout, _ io.Writer) error {
	remote, err := c.all(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tGROUP\tINTERVAL\tRULES")
	for _, ns := range sortedKeys(remote) {
		for _, g := range remote[ns] {
			interval := "-"
			if g.Interval != 0 {
				interval = g.Interval.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", ns, g.Name, interval, len(g.Rules))
		}
	}
	return tw.Flush()
}

func runGet(ctx context.Context, c *client, _ *opts, args []string, stdout, _ io.Writer) error {
	body, err := c.get(ctx, args...)
	if err != nil {
		return err
	}
	_, err = stdout.Write(body)
	return err
}

func runDelete(ctx context.Context, c *client, _ *opts, args []string, _, stderr io.Writer) error {
	if err := c.delete(ctx, args...); err != nil {
		return err
	}
	if len(args) == 2 {
		fmt.Fprintf(stderr, "Deleted group %q of namespace %q.\n", args[1], args[0])
	} else {
		fmt.Fprintf(stderr, "Deleted namespace %q.\n", args[0])
	}
	return nil
}

func runLoad(ctx context.Context, c *client, o *opts, args []string, _, stderr io.Writer) error {
	local, err := readFiles(args, o.namespace)
	if err != nil {
		return err
	}
	for _, ns := range sortedKeys(local) {
		for _, g := range local[ns] {
			if err := c.set(ctx, ns, g); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Loaded group %q into namespace %q (%d rules).\n", g.Name, ns, len(g.Rules))
		}
	}
	return nil
}

func runDiff(ctx context.Context, c *client, _ *opts, args []string, stdout, _ io.Writer) error {
	changes, err := plan(ctx, c, args)
	if err != nil {
		return err
	}
	printChanges(stdout, changes)
	return nil
}

func runSync(ctx context.Context, c *client, o *opts, args []string, stdout, stderr io.Writer) error {
	changes, err := plan(ctx, c, args)
	if err != nil {
		return err
	}
	printChanges(stdout, changes)
	if o.dryRun {
		return nil
	}
	for _, ch := range changes {
		switch ch.kind {
		case added, changed:
			err = c.set(ctx, ch.namespace, *ch.local)
		case removed:
			err = c.delete(ctx, ch.namespace, ch.group)
		}
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "Synced: %s.\n", summary(changes))
	return nil
}

func sortedKeys(m map[string][]rulefmt.RuleGroup) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// namespaceOf is a file's namespace: its name without the extension.
func namespaceOf(path string) string {
	base := filepath.Base(path)
	return strings.TrimSuffix(base, filepath.Ext(base))
}

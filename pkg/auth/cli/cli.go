package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hearthmetrics/hearth/pkg/auth"
	"github.com/hearthmetrics/hearth/pkg/tenant"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the request failed or was refused
	ExitUsage   = 2 // bad arguments; nothing was sent
	maxRespBody = 1 << 20
)

const usage = `Usage: hearth keys <command> [flags]

Manage tenants' API keys through a running Hearth's operator API.

Commands:
  create          create a key:  --tenant T --scope write,read [--name N] [--expires 720h]
  list            list a tenant's keys (never their secrets):  --tenant T [--json]
  revoke          revoke a key at once:  --tenant T --id ID
  rotate          replace a key:  --tenant T --id ID [--grace 1h] [--expires 720h]
  delete-tenant   delete a tenant's keys and data:  --tenant T --yes

Every command takes --addr and --token-file; "hearth keys <command> -h" lists its flags.
`

// Run runs `hearth keys` with args (the words after "keys") and returns
// the exit code.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "hearth keys: unknown command %q\n\n%s", args[0], usage)
		return ExitUsage
	}
	fs := flag.NewFlagSet("hearth keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &opts{}
	fs.StringVar(&o.addr, "addr", "http://127.0.0.1:9010", "Base URL of the internal listener (-server.internal-listen-address).")
	fs.StringVar(&o.tokenFile, "token-file", filepath.Join("data", auth.OperatorTokenFileName), "Operator token file (-auth.operator-token-file; by default in -storage.dir).")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "Time limit of the request.")
	fs.StringVar(&o.tenant, "tenant", "", "Tenant ID.")
	cmd.flags(fs, o)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hearth keys %s: unexpected arguments %q\n", args[0], fs.Args())
		return ExitUsage
	}
	if err := tenant.Validate(o.tenant); err != nil {
		fmt.Fprintf(stderr, "hearth keys %s: --tenant: %v\n", args[0], err)
		return ExitUsage
	}
	if err := cmd.check(o); err != nil {
		fmt.Fprintf(stderr, "hearth keys %s: %v\n", args[0], err)
		return ExitUsage
	}
	token, err := auth.ReadOperatorToken(o.tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "hearth keys: reading the operator token (--token-file): %v\n", err)
		return ExitFailed
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	c := &client{base: strings.TrimRight(o.addr, "/"), token: token, http: &http.Client{
		// Never follow a redirect: a cleaned path could name another
		// resource than the one asked for.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if err := cmd.run(ctx, c, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "hearth keys %s: %v\n", args[0], err)
		return ExitFailed
	}
	return ExitOK
}

// opts are every subcommand's flags.
type opts struct {
	addr, tokenFile, tenant string
	timeout                 time.Duration
	scope, name, id         string
	expires, grace          string
	readTenants             string
	json, yes               bool
}

type command struct {
	flags func(*flag.FlagSet, *opts)
	check func(*opts) error
	run   func(ctx context.Context, c *client, o *opts, stdout, stderr io.Writer) error
}

func idFlag(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.id, "id", "", "Key ID (the part after hearth_, as list shows it).")
}

func checkID(o *opts) error {
	if !auth.ValidKeyID(o.id) {
		return fmt.Errorf("--id %q: not a key ID", o.id)
	}
	return nil
}

var commands = map[string]command{
	"create": {
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.scope, "scope", "", "Comma-separated scopes: write (push), read (queries), rules (ruler API).")
			fs.StringVar(&o.name, "name", "", "Name to recognise the key by (e.g. where it is used).")
			fs.StringVar(&o.expires, "expires", "", "Lifetime (720h, 90d); empty never expires.")
			fs.StringVar(&o.readTenants, "read-tenants", "", "Comma-separated other tenants the key may read, alone or in a federated query (Basic auth user a|b, with -tenant-federation.enabled); needs the read scope.")
		},
		check: func(o *opts) error {
			_, err := auth.ParseScope(o.scope)
			if err != nil {
				return err
			}
			_, err = readTenants(o.readTenants)
			return err
		},
		run: func(ctx context.Context, c *client, o *opts, stdout, stderr io.Writer) error {
			scopes, _ := auth.ParseScope(o.scope)
			reads, _ := readTenants(o.readTenants)
			var out auth.CreatedKey
			if err := c.do(ctx, http.MethodPost, tenantPath(o)+"/keys", auth.CreateKeyRequest{Name: o.name, Scopes: scopes, ReadTenants: reads, ExpiresIn: o.expires}, &out); err != nil {
				return err
			}
			describe(stderr, "Created", out)
			fmt.Fprintln(stdout, out.Token)
			return nil
		},
	},
	"list": {
		flags: func(fs *flag.FlagSet, o *opts) { fs.BoolVar(&o.json, "json", false, "Print the API's JSON.") },
		check: func(*opts) error { return nil },
		run: func(ctx context.Context, c *client, o *opts, stdout, _ io.Writer) error {
			var out auth.KeyList
			if err := c.do(ctx, http.MethodGet, tenantPath(o)+"/keys", nil, &out); err != nil {
				return err
			}
			if o.json {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tSTATE\tCREATED\tEXPIRES\tREVOKED")
			for _, k := range out.Keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Scopes, k.State, stamp(k.Created), stamp(k.Expires), stamp(k.Revoked))
			}
			return tw.Flush()
		},
	},
	"revoke": {
		flags: idFlag,
		check: checkID,
		run: func(ctx context.Context, c *client, o *opts, _, stderr io.Writer) error {
			if err := c.do(ctx, http.MethodDelete, tenantPath(o)+"/keys/"+o.id, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Revoked key %s of tenant %s. Other processes refuse it within -auth.cache-ttl.\n", o.id, o.tenant)
			return nil
		},
	},
	"rotate": {
		flags: func(fs *flag.FlagSet, o *opts) {
			idFlag(fs, o)
			fs.StringVar(&o.grace, "grace", "", "How long the old key keeps working (1h); empty revokes it at once.")
			fs.StringVar(&o.expires, "expires", "", "Lifetime of the new key; empty keeps the old key's.")
		},
		check: checkID,
		run: func(ctx context.Context, c *client, o *opts, stdout, stderr io.Writer) error {
			var out auth.CreatedKey
			if err := c.do(ctx, http.MethodPost, tenantPath(o)+"/keys/"+o.id+"/rotate", auth.RotateKeyRequest{Grace: o.grace, ExpiresIn: o.expires}, &out); err != nil {
				return err
			}
			describe(stderr, "Rotated "+o.id+" into", out)
			fmt.Fprintln(stdout, out.Token)
			return nil
		},
	},
	"delete-tenant": {
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.BoolVar(&o.yes, "yes", false, "Confirm: the tenant's keys and data are deleted for good.")
		},
		check: func(o *opts) error {
			if !o.yes {
				return errors.New("deleting a tenant cannot be undone: add --yes")
			}
			return nil
		},
		run: func(ctx context.Context, c *client, o *opts, _, stderr io.Writer) error {
			if err := c.do(ctx, http.MethodPost, tenantPath(o)+"/delete", nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Deleted tenant %s.\n", o.tenant)
			return nil
		},
	},
}

// tenantPath is the API path of o's tenant, already validated.
func tenantPath(o *opts) string { return "/admin/tenants/" + url.PathEscape(o.tenant) }

func describe(w io.Writer, verb string, k auth.CreatedKey) {
	exp := "never expires"
	if !k.Key.Expires.IsZero() {
		exp = "expires " + stamp(k.Key.Expires)
	}
	fmt.Fprintf(w, "%s key %s for tenant %s (scopes %s, %s). It is shown once; store it now.\n"+
		"  Prometheus remote_write: basic_auth: {username: %s, password: <the key>}\n"+
		"  Grafana: Basic auth with user %s and the key as password, or header Authorization: Bearer <the key>\n",
		verb, k.Key.ID, k.Key.Tenant, k.Key.Scopes, exp, k.Key.Tenant, k.Key.Tenant)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

type client struct {
	base  string
	token auth.Secret
	http  *http.Client
}

// do sends body as JSON and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("calling the operator API (--addr): %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRespBody))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (is --token-file the server's -auth.operator-token-file?)"
		}
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decoding the answer: %w", err)
		}
	}
	return nil
}

// readTenants parses --read-tenants.
func readTenants(s string) ([]tenant.ID, error) {
	if s == "" {
		return nil, nil
	}
	var out []tenant.ID
	for _, part := range strings.Split(s, ",") {
		id, err := tenant.Parse(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("--read-tenants %q: %w", part, err)
		}
		out = append(out, id)
	}
	return out, nil
}

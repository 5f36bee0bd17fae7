package rulescli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"
)

// maxRespBody bounds an answer the client reads.
const maxRespBody = 64 << 20

// client calls the rules API of one tenant.
type client struct {
	root, tenant, key string
	http              *http.Client
}

func newClient(o *opts, key string) *client {
	return &client{
		root:   strings.TrimRight(o.addr, "/") + strings.TrimRight(o.prefix, "/") + "/config/v1/rules",
		tenant: o.tenant,
		key:    key,
		http: &http.Client{
			// Never follow a redirect: a cleaned path could name another
			// group than the one asked for.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// segment escapes a namespace or group name as one path segment; "." and
// ".." get their dots escaped too, or the server's mux would clean them.
func segment(name string) string {
	if name == "." || name == ".." {
		return strings.ReplaceAll(name, ".", "%2E")
	}
	return url.PathEscape(name)
}

func (c *client) path(names ...string) string {
	p := c.root
	for _, n := range names {
		p += "/" + segment(n)
	}
	return p
}

// all returns every group of the tenant by namespace; none is no error.
func (c *client) all(ctx context.Context) (map[string][]rulefmt.RuleGroup, error) {
	body, err := c.get(ctx)
	if errors.Is(err, errNone) {
		return map[string][]rulefmt.RuleGroup{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]rulefmt.RuleGroup{}
	if err := yaml.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decoding the rule groups: %w", err)
	}
	return out, nil
}

// errNone is a 404 of a listing: the tenant has no groups there.
var errNone = errors.New("no rule groups found")

// get returns the YAML of a listing (no names), a namespace or a group.
func (c *client) get(ctx context.Context, names ...string) ([]byte, error) {
	status, body, err := c.do(ctx, http.MethodGet, c.path(names...), nil)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound && strings.TrimSpace(string(body)) == errNone.Error() {
		return nil, errNone
	}
	if status != http.StatusOK {
		return nil, answerError(http.MethodGet, names, status, body)
	}
	return body, nil
}

func (c *client) set(ctx context.Context, namespace string, g rulefmt.RuleGroup) error {
	b, err := yaml.Marshal(&g)
	if err != nil {
		return fmt.Errorf("encoding group %q: %w", g.Name, err)
	}
	status, body, err := c.do(ctx, http.MethodPost, c.path(namespace), b)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return answerError("writing group "+fmt.Sprintf("%q", g.Name)+" with POST", []string{namespace}, status, body)
	}
	return nil
}

func (c *client) delete(ctx context.Context, names ...string) error {
	status, body, err := c.do(ctx, http.MethodDelete, c.path(names...), nil)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return answerError(http.MethodDelete, names, status, body)
	}
	return nil
}

func (c *client) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("building the request: %w", err)
	}
	if c.tenant != "" {
		req.SetBasicAuth(c.tenant, c.key)
		req.Header.Set("X-Scope-OrgID", c.tenant)
	} else {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/yaml")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("calling the rules API (--addr): %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRespBody))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, b, nil
}

func answerError(what string, names []string, status int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		msg += " (writes need a key with the rules scope; reads read or rules)"
	}
	where := "the tenant's rules"
	switch len(names) {
	case 1:
		where = fmt.Sprintf("namespace %q", names[0])
	case 2:
		where = fmt.Sprintf("group %q of namespace %q", names[1], names[0])
	}
	return fmt.Errorf("%s %s: %d %s: %s", what, where, status, http.StatusText(status), msg)
}

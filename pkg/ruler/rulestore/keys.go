package rulestore

import (
	"bytes"
	"fmt"

	"github.com/prometheus/prometheus/model/rulefmt"
	"go.yaml.in/yaml/v3"

	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/pkg/widecolumn"
)

// Bytes of the name encoding (see the package documentation).
const (
	escByte  = 0x00
	escNUL   = 0xff // 00 FF is a NUL inside a name
	escEnd   = 0x01 // 00 01 ends a name
	maxEsced = 2*MaxNameBytes + 2
)

// appendName appends name escaped and terminated, and returns the result.
func appendName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		if name[i] == escByte {
			dst = append(dst, escByte, escNUL)
			continue
		}
		dst = append(dst, name[i])
	}
	return append(dst, escByte, escEnd)
}

// cutName decodes the escaped, terminated name at the start of b and
// returns it and what follows it. ok is false for a name that is not
// terminated or holds a bad escape.
func cutName(b []byte) (name string, rest []byte, ok bool) {
	out := make([]byte, 0, min(len(b), maxEsced))
	for i := 0; i < len(b); i++ {
		if b[i] != escByte {
			out = append(out, b[i])
			continue
		}
		if i+1 == len(b) {
			return "", nil, false
		}
		switch b[i+1] {
		case escNUL:
			out = append(out, escByte)
			i++
		case escEnd:
			return string(out), b[i+2:], true
		default:
			return "", nil, false
		}
	}
	return "", nil, false
}

func tenantPrefix(t tenant.ID) []byte {
	return widecolumn.RuleGroups.AppendTenant(make([]byte, 0, 64), string(t))
}

func namespacePrefix(t tenant.ID, namespace string) []byte {
	return appendName(tenantPrefix(t), namespace)
}

func groupKey(t tenant.ID, namespace, group string) []byte {
	return appendName(namespacePrefix(t, namespace), group)
}

// parseKey splits a group row's key into its namespace and group names,
// checking that it is a row of tenant t.
func parseKey(t tenant.ID, key []byte) (namespace, group string, err error) {
	kt, rest, err := widecolumn.RuleGroups.ParseTenant(key)
	if err != nil {
		return "", "", err
	}
	if string(kt) != string(t) {
		return "", "", fmt.Errorf("%w: rule group key %q is not of tenant %s", widecolumn.ErrCorrupt, key, t)
	}
	namespace, rest, ok := cutName(rest)
	if !ok {
		return "", "", fmt.Errorf("%w: bad namespace in rule group key %q", widecolumn.ErrCorrupt, key)
	}
	group, rest, ok = cutName(rest)
	if !ok || len(rest) != 0 {
		return "", "", fmt.Errorf("%w: bad group name in rule group key %q", widecolumn.ErrCorrupt, key)
	}
	return namespace, group, nil
}

// decodeRow decodes a group row of tenant t. The group's name must be the
// one its key says.
func decodeRow(t tenant.ID, r widecolumn.Row) (Group, error) {
	namespace, name, err := parseKey(t, r.Key)
	if err != nil {
		return Group{}, err
	}
	var value []byte
	found := false
	for _, c := range r.Cells {
		if bytes.Equal(c.Column, groupColumn) {
			value, found = c.Value, true
		}
	}
	if !found {
		return Group{}, fmt.Errorf("%w: rule group row %q has no group cell", widecolumn.ErrCorrupt, r.Key)
	}
	g, err := decodeGroup(value)
	if err != nil {
		return Group{}, fmt.Errorf("%w: rule group row %q: %w", widecolumn.ErrCorrupt, r.Key, err)
	}
	if g.Name != name {
		return Group{}, fmt.Errorf("%w: rule group row %q holds group %q", widecolumn.ErrCorrupt, r.Key, g.Name)
	}
	return Group{Namespace: namespace, RuleGroup: g}, nil
}

// decodeGroup decodes a stored group: YAML of one rulefmt.RuleGroup,
// without unknown fields, within [MaxGroupBytes].
func decodeGroup(value []byte) (rulefmt.RuleGroup, error) {
	var g rulefmt.RuleGroup
	if len(value) > MaxGroupBytes {
		return g, fmt.Errorf("%d bytes, at most %d stored", len(value), MaxGroupBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(value))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		return rulefmt.RuleGroup{}, fmt.Errorf("decoding the group: %w", err)
	}
	return g, nil
}

package chunk

import (
	"regexp/syntax"
	"strings"
)

// postingsRegex returns a row-key regex, for a backend to evaluate byte by
// byte, that every postings row of namePrefix whose value matches the
// Prometheus regex re passes. It is a pre-filter: rows it passes are checked
// again against the matcher. ok is false when re cannot be pushed down.
//
// A postings key continues namePrefix with a value part (kind byte, uvarint
// length, bytes) and a shard byte. ASCII values (kind 0) are matched
// against re, where byte and UTF-8 semantics agree; raw non-ASCII (kind 1)
// and hashed (kind 2) values always pass. The length is skipped with .{1,3},
// which can let re match a suffix of the value: more rows, never fewer.
func postingsRegex(namePrefix []byte, re string) (string, bool) {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil || hasAssertion(parsed) {
		return "", false
	}
	var sb strings.Builder
	for _, c := range namePrefix {
		quoteByte(&sb, c)
	}
	sb.WriteString(`(?s:\x00.{1,3}(?:`)
	sb.WriteString(re)
	sb.WriteString(`).|[\x01\x02].*)`)
	return sb.String(), true
}

// hasAssertion reports whether re uses a zero-width assertion (^, $, \b,
// \A, \z ...), whose meaning changes once re is embedded in a longer key.
func hasAssertion(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	}
	for _, sub := range re.Sub {
		if hasAssertion(sub) {
			return true
		}
	}
	return false
}

// quoteByte writes c as a regex literal: letters and digits as themselves,
// anything else as \xHH.
func quoteByte(sb *strings.Builder, c byte) {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		sb.WriteByte(c)
		return
	}
	const hex = "0123456789abcdef"
	sb.WriteString(`\x`)
	sb.WriteByte(hex[c>>4])
	sb.WriteByte(hex[c&0xf])
}

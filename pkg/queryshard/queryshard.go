package queryshard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
)

// LabelName is the name of the shard matcher's label. No series carries
// it: it only selects.
const LabelName = "__query_shard__"

// maxCount bounds the shard count a matcher may ask for; more shards than
// this would be a mistake, not a plan.
const maxCount = 1 << 16

// ErrMalformed is returned by [Split] and [Parse] for a shard matcher that
// is not __query_shard__="<i>_of_<N>" with 1 ≤ i ≤ N; the error names the
// matcher. The querier answers it with 400.
var ErrMalformed = errors.New("malformed query shard matcher")

// Shard is one shard of series: those whose [labels.StableHash] modulo
// Count is Index.
type Shard struct {
	// Index is 0-based, Index < Count.
	Index uint64
	// Count is at least 1.
	Count uint64
}

// String returns the matcher value, 1-based: "<Index+1>_of_<Count>".
func (s Shard) String() string {
	return strconv.FormatUint(s.Index+1, 10) + "_of_" + strconv.FormatUint(s.Count, 10)
}

// Matcher returns the matcher that selects s.
func (s Shard) Matcher() *labels.Matcher {
	return &labels.Matcher{Type: labels.MatchEqual, Name: LabelName, Value: s.String()}
}

// Contains reports whether the series with labels lset is in s.
func (s Shard) Contains(lset labels.Labels) bool {
	return labels.StableHash(lset)%s.Count == s.Index
}

// Parse parses a matcher value "<i>_of_<N>" (1 ≤ i ≤ N ≤ 65536).
func Parse(value string) (Shard, error) {
	i, n, ok := strings.Cut(value, "_of_")
	if !ok {
		return Shard{}, fmt.Errorf("%w: %s=%.100q, want <shard>_of_<count>", ErrMalformed, LabelName, value)
	}
	idx, err1 := strconv.ParseUint(i, 10, 64)
	count, err2 := strconv.ParseUint(n, 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("%w: %s=%.100q, want <shard>_of_<count> with decimal numbers", ErrMalformed, LabelName, value)
	case count == 0 || count > maxCount:
		return Shard{}, fmt.Errorf("%w: %s=%.100q, the count must be between 1 and %d", ErrMalformed, LabelName, value, maxCount)
	case idx == 0 || idx > count:
		return Shard{}, fmt.Errorf("%w: %s=%.100q, the shard must be between 1 and the count %d", ErrMalformed, LabelName, value, count)
	}
	return Shard{Index: idx - 1, Count: count}, nil
}

// Split takes the shard matcher out of ms. It returns the shard (nil when
// ms has none) and the other matchers; ms itself is not modified and is
// returned as is when it has no shard matcher. A shard matcher that is not
// an equality, a malformed value, or two shard matchers are [ErrMalformed].
func Split(ms []*labels.Matcher) (*Shard, []*labels.Matcher, error) {
	at := -1
	for i, m := range ms {
		if m.Name != LabelName {
			continue
		}
		if at >= 0 {
			return nil, nil, fmt.Errorf("%w: more than one %s matcher", ErrMalformed, LabelName)
		}
		at = i
	}
	if at < 0 {
		return nil, ms, nil
	}
	m := ms[at]
	if m.Type != labels.MatchEqual {
		return nil, nil, fmt.Errorf("%w: %s, only = is allowed", ErrMalformed, m.String())
	}
	s, err := Parse(m.Value)
	if err != nil {
		return nil, nil, err
	}
	rest := make([]*labels.Matcher, 0, len(ms)-1)
	rest = append(rest, ms[:at]...)
	rest = append(rest, ms[at+1:]...)
	return &s, rest, nil
}

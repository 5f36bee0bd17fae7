package ingester

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hearthmetrics/hearth/pkg/limits"
	"github.com/hearthmetrics/hearth/pkg/tenant"
	"github.com/hearthmetrics/hearth/proto/ingesterpb"
)

// metadataKey is one distinct metadata entry of a metric family.
type metadataKey struct {
	typ  ingesterpb.MetricMetadata_MetricType
	help string
	unit string
}

// metadataEntry is when an entry was last pushed. It is a pointer in the
// map so that refreshing it never re-assigns (and so never replaces) the
// map's owned key with the request's aliased one.
type metadataEntry struct{ lastPushed time.Time }

// metadataStore keeps a tenant's metric metadata in memory (it is not part
// of the long-term store), under the per-tenant and per-metric limits. An
// entry expires when it was not pushed for the retain period.
type metadataStore struct {
	tenant tenant.ID

	mu       sync.Mutex
	byMetric map[string]map[metadataKey]*metadataEntry
	total    int
}

func newMetadataStore(t tenant.ID) *metadataStore {
	return &metadataStore{tenant: t, byMetric: map[string]map[metadataKey]*metadataEntry{}}
}

// add records md as seen at now. md's strings may alias a request buffer:
// they are copied when the entry is new.
func (s *metadataStore) add(md *ingesterpb.MetricMetadata, now time.Time, lim *limits.Limits) error {
	key := metadataKey{typ: md.Type, help: md.Help, unit: md.Unit}
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.byMetric[md.MetricFamilyName]
	if ok {
		if e, ok := set[key]; ok {
			e.lastPushed = now
			return nil
		}
	}
	if lim.MaxMetadataPerTenant > 0 && s.total >= lim.MaxMetadataPerTenant {
		return &metadataLimitError{reason: ingesterpb.ReasonPerTenantMetadataLimit, flag: "ingester.max-metadata-per-tenant", limit: lim.MaxMetadataPerTenant, tenant: s.tenant}
	}
	if lim.MaxMetadataPerMetric > 0 && len(set) >= lim.MaxMetadataPerMetric {
		return &metadataLimitError{reason: ingesterpb.ReasonPerMetricMetadataLimit, flag: "ingester.max-metadata-per-metric", limit: lim.MaxMetadataPerMetric, tenant: s.tenant}
	}
	if set == nil {
		set = map[metadataKey]*metadataEntry{}
		s.byMetric[strings.Clone(md.MetricFamilyName)] = set
	}
	key.help, key.unit = strings.Clone(key.help), strings.Clone(key.unit)
	set[key] = &metadataEntry{lastPushed: now}
	s.total++
	return nil
}

// purge drops the entries last pushed before cutoff and returns how many
// remain.
func (s *metadataStore) purge(cutoff time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for metric, set := range s.byMetric {
		for k, e := range set {
			if e.lastPushed.Before(cutoff) {
				delete(set, k)
				s.total--
			}
		}
		if len(set) == 0 {
			delete(s.byMetric, metric)
		}
	}
	return s.total
}

func (s *metadataStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// list returns the metadata of metric (every metric when empty), sorted by
// metric then help, at most limit metrics (0 = no limit) and at most
// limitPerMetric entries per metric (0 = no limit).
func (s *metadataStore) list(metric string, limit, limitPerMetric int) []ingesterpb.MetricMetadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	if metric != "" {
		if _, ok := s.byMetric[metric]; ok {
			names = []string{metric}
		}
	} else {
		names = make([]string, 0, len(s.byMetric))
		for name := range s.byMetric {
			names = append(names, name)
		}
		slices.Sort(names)
	}
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	var out []ingesterpb.MetricMetadata
	for _, name := range names {
		start := len(out)
		for k := range s.byMetric[name] {
			out = append(out, ingesterpb.MetricMetadata{Type: k.typ, MetricFamilyName: name, Help: k.help, Unit: k.unit})
		}
		entries := out[start:]
		slices.SortFunc(entries, func(a, b ingesterpb.MetricMetadata) int {
			if c := strings.Compare(a.Help, b.Help); c != 0 {
				return c
			}
			if c := strings.Compare(a.Unit, b.Unit); c != 0 {
				return c
			}
			return int(a.Type) - int(b.Type)
		})
		if limitPerMetric > 0 && len(entries) > limitPerMetric {
			out = out[:start+limitPerMetric]
		}
	}
	return out
}

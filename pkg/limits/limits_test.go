package limits

import (
	"flag"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/hearthmetrics/hearth/pkg/tenant"
)

func defaults(t *testing.T) Limits {
	t.Helper()
	var l Limits
	l.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	return l
}

func TestOverridesFallBackToDefaults(t *testing.T) {
	d := defaults(t)
	o := NewOverrides(d)
	require.Equal(t, 30, o.For("a").MaxLabelNamesPerSeries)
	custom := d
	custom.MaxLabelNamesPerSeries = 5
	o.Set(map[tenant.ID]*Limits{"a": &custom})
	require.Equal(t, 5, o.For("a").MaxLabelNamesPerSeries)
	require.Equal(t, 30, o.For("b").MaxLabelNamesPerSeries)
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Limits)
		wantErr []string
	}{
		"defaults are valid": {mutate: func(*Limits) {}},
		"every negative limit is reported": {
			mutate: func(l *Limits) {
				l.MaxSeriesPerTenant = -1
				l.IngestionRate = -2
			},
			wantErr: []string{"max_series_per_tenant is -1", "ingestion_rate_limit is -2"},
		},
		"each count limit is checked": {
			mutate: func(l *Limits) {
				for _, p := range []*int{
					&l.MaxLabelNameLength, &l.MaxLabelValueLength, &l.MaxLabelNamesPerSeries, &l.MaxMetadataLength,
					&l.MaxExemplarLabelsLength, &l.IngestionBurstSize, &l.HAMaxClusters, &l.MaxSeriesPerTenant,
					&l.MaxSeriesPerMetric, &l.MaxGlobalSeriesPerTenant, &l.MaxGlobalSeriesPerMetric, &l.MaxExemplars,
					&l.MaxMetadataPerTenant, &l.MaxMetadataPerMetric, &l.MaxSeriesPerQuery, &l.MaxChunksPerQuery,
					&l.MaxChunkBytesPerQuery, &l.MaxConcurrentQueries, &l.MaxSamplesPerQuery, &l.MaxSubquerySteps,
					&l.MaxQuerySteps, &l.MaxQueryExpressionSizeBytes, &l.MaxQueryExpressionTokens, &l.MaxQueryExpressionDepth,
					&l.RulerMaxRuleGroupsPerTenant, &l.RulerMaxRulesPerRuleGroup, &l.MaxQueriersPerTenant, &l.MaxOutstandingPerTenant,
				} {
					*p = -1
				}
				l.RulerMinEvaluationInterval = model.Duration(-time.Second)
			},
			wantErr: []string{
				"max_length_label_name is -1", "max_length_label_value is -1", "max_label_names_per_series is -1",
				"max_metadata_length is -1", "max_exemplar_labels_length is -1", "ingestion_burst_size is -1",
				"ha_max_clusters is -1", "max_series_per_tenant is -1", "max_series_per_metric is -1",
				"max_global_series_per_tenant is -1", "max_global_series_per_metric is -1", "max_exemplars is -1",
				"max_metadata_per_tenant is -1", "max_metadata_per_metric is -1", "max_series_per_query is -1",
				"max_chunks_per_query is -1", "max_chunk_bytes_per_query is -1",
				"max_concurrent_queries_per_tenant is -1", "max_samples_per_query is -1", "max_subquery_steps is -1",
				"max_query_steps is -1", "max_query_expression_size_bytes is -1", "max_query_expression_tokens is -1",
				"max_query_expression_depth is -1", "max_rule_groups_per_tenant is -1", "max_rules_per_rule_group is -1",
				"min_evaluation_interval is -1s", "max_queriers_per_tenant is -1", "max_outstanding_requests_per_tenant is -1",
			},
		},
		"HA labels must be set when HA samples are accepted": {
			mutate: func(l *Limits) {
				l.AcceptHASamples = true
				l.HAReplicaLabel = ""
			},
			wantErr: []string{"must not be empty"},
		},
		"HA labels are only checked when HA samples are accepted": {
			mutate: func(l *Limits) { l.HAReplicaLabel = "" },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l := defaults(t)
			tc.mutate(&l)
			err := l.Validate()
			if len(tc.wantErr) == 0 {
				require.NoError(t, err)
				return
			}
			for _, want := range tc.wantErr {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

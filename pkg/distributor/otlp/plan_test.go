package otlp

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/hearthmetrics/hearth/pkg/limits"
)

// TestASCIILabels: the handler tells the distributor a request's labels
// are ASCII (sparing its UTF-8 checks) only when every string the
// translator makes labels of is; one non-ASCII byte anywhere among them,
// in either translation strategy, and the distributor checks as usual
// (scope metadata too, though Hearth does not promote it).
func TestASCIILabels(t *testing.T) {
	tests := map[string]func(md pmetric.Metrics){
		"resource attribute value": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).Resource().Attributes().PutStr("service.name", "caf\xc3\xa9")
		},
		"resource attribute name": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).Resource().Attributes().PutStr("r\xe9gion", "eu")
		},
		"value nested in a map": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).Resource().Attributes().PutEmptyMap("m").PutEmptyMap("n").PutStr("k", "\xff")
		},
		"value nested in a slice": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).Resource().Attributes().PutEmptySlice("s").AppendEmpty().SetStr("\x80")
		},
		"scope name": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().SetName("lib\xff")
		},
		"scope version": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().SetVersion("v1\xff")
		},
		"scope attribute": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Attributes().PutStr("a", "\xff")
		},
		"metric name": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetName("temp\xc2\xb0")
		},
		"metric unit": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).SetUnit("\xc2\xb0C")
		},
		"data point attribute name": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).Sum().DataPoints().At(1).Attributes().PutStr("\xffk", "v")
		},
		"data point attribute value": func(md pmetric.Metrics) {
			md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).Sum().DataPoints().At(1).Attributes().PutStr("k", "12345678\xff")
		},
	}
	for _, utf8 := range []bool{false, true} {
		mutate := func(l *limits.Limits) {
			if utf8 {
				l.OTelTranslationStrategy = limits.OTelUTF8
			}
		}
		push := func(t *testing.T, md pmetric.Metrics) *fakePusher {
			t.Helper()
			p := &fakePusher{}
			w := serve(newTestHandler(t, p, mutate), sent{body: encode(t, md, Protobuf), contentType: ContentTypeProtobuf})
			require.Equal(t, http.StatusOK, w.Code, w.Body.String())
			require.Len(t, p.ascii, 1)
			require.Empty(t, p.notASCII)
			return p
		}
		base := func() pmetric.Metrics {
			return metrics(gauge("temp", 21, "room", "kitchen"), sum("requests", pmetric.AggregationTemporalityCumulative, 2), expHistogram("latency"))
		}
		t.Run("ASCII", func(t *testing.T) {
			require.True(t, push(t, base()).ascii[0])
		})
		for name, change := range tests {
			t.Run(name, func(t *testing.T) {
				md := base()
				change(md)
				p := push(t, md)
				require.False(t, p.ascii[0])
			})
		}
	}
}

// TestHighBits: every length up to three words, with one high byte at each
// position: the word, half-word and single-byte reads cover every byte.
func TestHighBits(t *testing.T) {
	for n := range 25 {
		ascii := strings.Repeat("a", n)
		require.Zero(t, highBits(ascii)&highMask, n)
		for i := range n {
			bad := ascii[:i] + "\x80" + ascii[i+1:]
			require.NotZero(t, highBits(bad)&highMask, "%q", bad)
		}
	}
}

package ring

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// unhealthyState is the members-gauge state of instances whose heartbeat
// is older than the timeout, whatever their stored state.
const unhealthyState = "UNHEALTHY"

var memberStates = []string{"PENDING", "JOINING", "ACTIVE", "LEAVING", "LEFT", unhealthyState}

type ringMetrics struct {
	members   *prometheus.GaugeVec
	tokens    prometheus.Gauge
	ownership *prometheus.GaugeVec
	rebuilds  prometheus.Counter
}

func newRingMetrics(reg prometheus.Registerer, name string) *ringMetrics {
	f := promauto.With(reg)
	l := prometheus.Labels{"name": name}
	return &ringMetrics{
		members: f.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "hearth_ring_members",
			Help:        "Instances in the ring by state; instances with an expired heartbeat count as UNHEALTHY only.",
			ConstLabels: l,
		}, []string{"state"}),
		tokens: f.NewGauge(prometheus.GaugeOpts{
			Name:        "hearth_ring_tokens",
			Help:        "Tokens in the ring's token table.",
			ConstLabels: l,
		}),
		ownership: f.NewGaugeVec(prometheus.GaugeOpts{
			Name:        "hearth_ring_instance_ownership_ratio",
			Help:        "Share of the token space each instance owns as first replica.",
			ConstLabels: l,
		}, []string{"instance"}),
		rebuilds: f.NewCounter(prometheus.CounterOpts{
			Name:        "hearth_ring_token_table_rebuilds_total",
			Help:        "Rebuilds of the token table, done when instances, tokens, states or zones change (not on heartbeats).",
			ConstLabels: l,
		}),
	}
}

func (r *Ring) updateMemberMetrics() {
	nowMs := r.now().UnixMilli()
	counts := map[string]int{}
	r.mu.RLock()
	for _, in := range r.desc.Instances {
		switch {
		case in.State == Left:
			counts["LEFT"]++
		case !r.healthy(&in, nowMs):
			counts[unhealthyState]++
		default:
			counts[StateName(in.State)]++
		}
	}
	r.mu.RUnlock()
	for _, s := range memberStates {
		r.m.members.WithLabelValues(s).Set(float64(counts[s]))
	}
}

func (r *Ring) updateOwnershipMetrics() {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.m.tokens.Set(float64(len(r.tokens)))
	r.m.ownership.Reset()
	for i := range r.instances {
		if len(r.instances[i].Tokens) > 0 {
			r.m.ownership.WithLabelValues(r.instances[i].Id).Set(r.ownership[i])
		}
	}
}

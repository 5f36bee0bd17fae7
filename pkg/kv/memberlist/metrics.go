package memberlist

import (
	"context"
	"log"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

type metrics struct {
	received     *prometheus.CounterVec
	invalid      *prometheus.CounterVec
	broadcasts   *prometheus.CounterVec
	dropped      prometheus.Counter
	tombstones   prometheus.Counter
	joinFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, k *KV) *metrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_memberlist_members",
		Help: "Members of the gossip cluster this process knows to be alive, itself included.",
	}, func() float64 { return float64(k.numMembers()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "hearth_memberlist_broadcast_queue_length",
		Help: "Changes waiting to be gossiped.",
	}, func() float64 { return float64(k.queue.NumQueued()) })
	return &metrics{
		received: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_memberlist_messages_received_total",
			Help: "Gossip messages received, by kind: broadcast (one change) or state (a peer's full state).",
		}, []string{"kind"}),
		invalid: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_memberlist_messages_invalid_total",
			Help: "Received values dropped, by reason.",
		}, []string{"reason"}),
		broadcasts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_memberlist_broadcasts_total",
			Help: "Changes queued for gossip, by transport: udp (gossip) or tcp (too large for a packet).",
		}, []string{"transport"}),
		dropped: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_memberlist_broadcasts_dropped_total",
			Help: "Large changes not sent because the TCP send queue was full; the next push/pull carries them.",
		}),
		tombstones: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_memberlist_tombstones_removed_total",
			Help: "Tombstones removed after -memberlist.left-instances-timeout.",
		}),
		joinFailures: f.NewCounter(prometheus.CounterOpts{
			Name: "hearth_memberlist_join_failures_total",
			Help: "Attempts to join the -memberlist.join addresses in which none answered.",
		}),
	}
}

// newStdLogger adapts slog to the *log.Logger memberlist wants, mapping its
// "[LEVEL] memberlist: ..." prefixes to slog levels.
func newStdLogger(l *slog.Logger) *log.Logger {
	return log.New(levelWriter{l}, "", 0)
}

type levelWriter struct{ l *slog.Logger }

var memberlistLevels = []struct {
	prefix string
	level  slog.Level
}{{"[ERR]", slog.LevelError}, {"[WARN]", slog.LevelWarn}, {"[INFO]", slog.LevelInfo}, {"[DEBUG]", slog.LevelDebug}}

func (w levelWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	for _, l := range memberlistLevels {
		if rest, ok := strings.CutPrefix(msg, l.prefix); ok {
			level = l.level
			msg = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), "memberlist:"))
			break
		}
	}
	w.l.Log(context.Background(), level, "Memberlist", "msg", msg)
	return len(p), nil
}

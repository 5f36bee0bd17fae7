package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hearthmetrics/hearth/pkg/flusher"
	"github.com/hearthmetrics/hearth/pkg/ingester"
	"github.com/hearthmetrics/hearth/pkg/services"
)

// readyReport is the body of /ready: whether every service runs, and what
// the ingester and the flusher are doing. An ingester stays ready while the
// store is down (it takes writes; blocks wait on disk): the flush backlog
// is shown, not judged.
type readyReport struct {
	Ready    bool             `json:"ready"`
	Reason   string           `json:"reason,omitempty"`
	Ingester *ingester.Status `json:"ingester,omitempty"`
	Flush    *flusher.Status  `json:"flush,omitempty"`
}

// readyDetail fills in what the process's ingester and flusher report. Only
// the operator listener shows it: the public /ready is a probe's answer
// (ready or not, and which service is not running) and tells no tenant how
// many tenants there are, what is in flight, or what the store said.
func (a *App) readyDetail(r *readyReport) {
	if a.ingester != nil {
		s := a.ingester.Status()
		r.Ingester = &s
	}
	if a.flusher != nil {
		s := a.flusher.Status()
		r.Flush = &s
	}
}

// readyHandler serves /ready: 200 when every service is running, 503
// otherwise, with the report as text, or as JSON on Accept:
// application/json. detail, optional, adds the components' state; the
// public listener passes none.
func readyHandler(mgr func() *services.Manager, detail func(r *readyReport)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r := readyReport{Reason: "starting"}
		if m := mgr(); m != nil {
			ok, why := m.Ready()
			r.Ready, r.Reason = ok, why
		}
		if detail != nil {
			detail(&r)
		}
		code := http.StatusOK
		if !r.Ready {
			code = http.StatusServiceUnavailable
		}
		if strings.Contains(req.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(code)
		writeReadyText(w, r)
	})
}

// writeReadyText writes the report as text: "ready" or "not ready: why"
// first, as load balancers and people expect, then one line per fact.
func writeReadyText(w io.Writer, r readyReport) {
	if r.Ready {
		fmt.Fprintln(w, "ready")
	} else {
		fmt.Fprintln(w, "not ready: "+r.Reason)
	}
	if s := r.Ingester; s != nil {
		rp := s.Replay
		dur := (time.Duration(rp.DurationSeconds*1e3) * time.Millisecond).String()
		if rp.Done {
			fmt.Fprintf(w, "wal replay: done, %d of %d tenants, %d series in %s\n", rp.TenantsReplayed, rp.Tenants, rp.Series, dur)
		} else {
			fmt.Fprintf(w, "wal replay: in progress, %d of %d tenants, %d series in %s", rp.TenantsReplayed, rp.Tenants, rp.Series, dur)
			if rp.LastSegment > 0 || rp.Segment > 0 {
				fmt.Fprintf(w, "; tenant %q at WAL segment %d of %d..%d", rp.Tenant, rp.Segment, rp.FirstSegment, rp.LastSegment)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "ingester: %d tenants, %d pushes in flight\n", s.Tenants, s.InflightPushes)
		if len(s.WALFailedTenants) > 0 {
			names := make([]string, len(s.WALFailedTenants))
			for k, t := range s.WALFailedTenants {
				names[k] = string(t)
			}
			fmt.Fprintf(w, "ingester: a WAL write failed (disk full?): pushes refused until the WAL is reopened, for tenants %s\n", strings.Join(names, ", "))
		}
	}
	if s := r.Flush; s != nil {
		age := (time.Duration(s.OldestUnflushedAgeSeconds) * time.Second).String()
		fmt.Fprintf(w, "flush: %d blocks not in the store (%d waiting, %d in progress), the oldest compacted %s ago\n",
			s.QueueLength, s.Waiting, s.InProgress, age)
		if s.ConsecutiveFailures > 0 {
			fmt.Fprintf(w, "flush: %d failed attempts in a row", s.ConsecutiveFailures)
			if s.LastErrorTime != nil {
				fmt.Fprintf(w, ", the last at %s", s.LastErrorTime.UTC().Format(time.RFC3339))
			}
			if s.LastError != "" {
				fmt.Fprintf(w, ": %s", s.LastError)
			}
			fmt.Fprintln(w)
		}
		if s.LastFlushTime != nil {
			fmt.Fprintf(w, "flush: last block written at %s\n", s.LastFlushTime.UTC().Format(time.RFC3339))
		}
	}
}

package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hearthmetrics/hearth/proto/ringpb"
)

// shutdownHandler serves POST /ingester/shutdown, the scale-down path: the
// ingester goes LEAVING (distributors stop sending it writes), flushes
// everything it holds to the store, and the process exits, leaving the
// ring. A rolling restart is SIGTERM instead: it keeps the ring entry and
// the WAL.
func (a *App) shutdownHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if err := a.leaveAndFlush(r.Context()); err != nil {
			a.logger.Error("Scale-down shutdown failed; the ingester keeps running", "err", err)
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		a.requestStop()
	})
}

func (a *App) leaveAndFlush(ctx context.Context) error {
	a.logger.Info("Scale-down requested: leaving the ring after flushing everything")
	if err := a.lifecycler.ChangeState(ctx, ringpb.InstanceState_INSTANCE_STATE_LEAVING); err != nil {
		return fmt.Errorf("going LEAVING: %w", err)
	}
	if err := a.flusher.FlushAll(ctx, a.ingester); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	a.lifecycler.SetUnregisterOnShutdown(true)
	return nil
}

// requestStop makes Run return as if its context had ended.
func (a *App) requestStop() {
	a.stopOnce.Do(func() { close(a.stop) })
}

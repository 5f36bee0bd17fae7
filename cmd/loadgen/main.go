// Command loadgen pushes remote-write load (and optionally a query mix) to
// a Prometheus-compatible endpoint and reports what it measured. See
// package loadgen for the series it generates; `loadgen -help` lists the
// flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hearthmetrics/hearth/pkg/loadgen"
)

func main() {
	var cfg loadgen.Config
	fs := flag.NewFlagSet("loadgen", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	_ = fs.Parse(os.Args[1:])

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, cfg, logger)
	stop()
	os.Exit(code)
}

// run does the work and returns the exit code, so that main's deferred
// cleanups never meet an os.Exit.
func run(ctx context.Context, cfg loadgen.Config, logger *slog.Logger) int {
	sum, err := loadgen.Run(ctx, cfg, logger, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 2
	}
	if err := sum.WriteText(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		return 1
	}
	if cfg.SummaryJSON != "" {
		if err := sum.WriteJSON(cfg.SummaryJSON); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			return 1
		}
	}
	return 0
}

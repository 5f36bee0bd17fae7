// Command hearth-check writes known samples to a remote-write endpoint at a
// steady rate, reads them back through the Prometheus HTTP API and reports
// whether anything acknowledged was lost or changed. It exits 1 when
// something was, 2 when it could not run or read back. See package checker;
// `hearth-check -help` lists the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hearthmetrics/hearth/pkg/checker"
)

func main() {
	var cfg checker.Config
	fs := flag.NewFlagSet("hearth-check", flag.ExitOnError)
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
func run(ctx context.Context, cfg checker.Config, logger *slog.Logger) int {
	sum, err := checker.Run(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hearth-check:", err)
		return 2
	}
	if err := sum.WriteText(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hearth-check:", err)
		return 2
	}
	if cfg.SummaryJSON != "" {
		if err := sum.WriteJSON(cfg.SummaryJSON); err != nil {
			fmt.Fprintln(os.Stderr, "hearth-check:", err)
			return 2
		}
	}
	if !sum.OK() {
		return 1
	}
	return 0
}

package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// LogConfig configures the process's logger.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// RegisterFlags registers the log flags.
func (c *LogConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.Level, "log.level", "info", "Log level: debug, info, warn or error.")
	f.StringVar(&c.Format, "log.format", "logfmt", "Log format: logfmt or json.")
}

// Validate reports every invalid setting.
func (c *LogConfig) Validate() error {
	var errs []error
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Level))
	}
	if c.Format != "logfmt" && c.Format != "json" {
		errs = append(errs, fmt.Errorf("log.format %q: want logfmt or json", c.Format))
	}
	return errors.Join(errs...)
}

func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(strings.ToLower(c.Level)))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

package app

import (
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"pcsync/internal/config"
)

// logFlags are the logging flags every long-running command has.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(f *pflag.FlagSet) {
	f.StringVar(&l.level, "log-level", "", "log `level`: debug, info, warn, error (default info; warn while a progress bar is shown)")
	f.StringVar(&l.format, "log-format", "text", "log `format`: text or json")
}

func (l *logFlags) apply(f *pflag.FlagSet, c *config.Log) {
	if f.Changed("log-level") {
		c.Level = l.level
	}
	if f.Changed("log-format") {
		c.Format = l.format
	}
}

// newLogger makes the process logger: structured lines on standard error.
// When a progress bar owns the terminal, info lines are held back unless a
// level was asked for explicitly.
func newLogger(io IOStreams, c config.Log, progress bool) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(c.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	case "", "info":
		if progress && io.TTY && c.Level == "" {
			level = slog.LevelWarn
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.ToLower(c.Format) == "json" {
		return slog.New(slog.NewJSONHandler(io.ErrOut, opts))
	}
	return slog.New(slog.NewTextHandler(io.ErrOut, opts))
}

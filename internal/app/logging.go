package app

import (
	"context"
	"fmt"
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

// announce makes pcsync's own messages JSON from the start when
// --log-format json was given, so that even an error in the other flags or
// the config file is reported as a JSON line.
func (l *logFlags) announce(io IOStreams, f *pflag.FlagSet) {
	if f.Changed("log-format") && strings.EqualFold(l.format, "json") && io.console != nil {
		io.console.json = true
	}
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
		if io.console != nil {
			io.console.json = true
		}
		return slog.New(slog.NewJSONHandler(io.ErrOut, opts))
	}
	return slog.New(slog.NewTextHandler(io.ErrOut, opts))
}

// console is how pcsync's own messages (warnings, the final error) reach
// standard error: "pcsync: ..." lines, or, once a command has chosen
// --log-format json, one JSON object per line like every log line.
type console struct {
	json bool
}

// warn writes a warning whatever the log level: warnings are about
// security and lost data.
func (io IOStreams) warn(msg string) { io.say(slog.LevelWarn, "warning: ", msg) }

// fail writes the error that ends the command.
func (io IOStreams) fail(msg string) { io.say(slog.LevelError, "", msg) }

func (io IOStreams) say(level slog.Level, prefix, msg string) {
	if io.console != nil && io.console.json {
		slog.New(slog.NewJSONHandler(io.ErrOut, nil)).Log(context.Background(), level, msg)
		return
	}
	fmt.Fprintf(io.ErrOut, "pcsync: %s%s\n", prefix, msg)
}

package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
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
	l.format = "text"
	f.Var(&choice{v: &l.level, of: config.LogLevels}, "log-level", "log `level`: debug, info, warn, error (default info; warn while a progress bar is shown)")
	f.Var(&choice{v: &l.format, of: config.LogFormats}, "log-format", "log `format`: text or json")
}

// choice is a flag that takes one of a few words (in any case), so that a
// typo is an error rather than the default.
type choice struct {
	v  *string
	of []string
}

func (c *choice) String() string {
	if c.v == nil {
		return ""
	}
	return *c.v
}

func (c *choice) Set(s string) error {
	if !slices.Contains(c.of, strings.ToLower(s)) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(c.of, ", "))
	}
	*c.v = s
	return nil
}

func (c *choice) Type() string { return "string" }

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

// jsonAsked reports whether args give --log-format json (before a "--"),
// so that pcsync's own messages are JSON from the start: also an error in
// the flags themselves or in the config file, before any logger exists.
func jsonAsked(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case strings.EqualFold(a, "--log-format=json"):
			return true
		case a == "--log-format" && i+1 < len(args) && strings.EqualFold(args[i+1], "json"):
			return true
		}
	}
	return false
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

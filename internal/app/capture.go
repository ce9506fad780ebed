package app

import (
	"fmt"
	"log/slog"

	"pcsync/internal/config"
	"pcsync/internal/qualys"
	"pcsync/internal/wire"
)

// startCapture sets up `sync --capture DIR`: the client's transport writes
// every exchange to dir, with the password and tokens replaced. dir must
// not be the database, and must be new or empty.
func startCapture(cfg *config.Config, dir string, copts *qualys.Options, log *slog.Logger) (*wire.Capture, error) {
	if dir == "" {
		return nil, nil
	}
	if err := checkOutput(cfg.DB, "--capture", dir); err != nil {
		return nil, err
	}
	c, err := wire.NewCapture(dir, cfg.Qualys.Password, log)
	if err != nil {
		return nil, usageErr("--capture: %v", err)
	}
	copts.WrapTransport = c.Wrap
	return c, nil
}

// endCapture says where the capture is, and fails a run whose capture
// could not be written whole (a full disk), unless the run failed anyway.
func endCapture(io IOStreams, c *wire.Capture, dir string, runErr error) error {
	if c == nil {
		return runErr
	}
	io.say(slog.LevelInfo, "", fmt.Sprintf("%d exchanges captured in %s; replay them with: pcsync emulate --replay %s", c.Exchanges(), dir, dir))
	if err := c.Err(); err != nil && runErr == nil {
		return withCode(ExitError, fmt.Errorf("the capture in %s is incomplete: %w", dir, err))
	}
	return runErr
}

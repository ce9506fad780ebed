package app

import (
	"log/slog"
	"os"
	"runtime/debug"

	"pcsync/internal/config"
)

// memoryLimit is the soft limit of Go's memory a sync runs under, in bytes,
// and what set it: the GOMEMLIMIT environment variable when it is set (it
// rules: the runtime applied it at start), else sync.memory_limit. 0 is no
// limit.
func memoryLimit(cfg *config.Config) (int64, string) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		n, _ := config.ParseSize(v) // the runtime refuses to start on a bad one
		return n, "GOMEMLIMIT"
	}
	return cfg.Sync.MemoryLimitBytes(), "sync.memory_limit"
}

// txBytes is the size of the records a transaction gathers at most (a
// chunk a quarter of it): a quarter of the memory limit. At the default
// concurrency the records in flight then take at most half the limit
// whatever their evidence weighs, and records of the emulator's size (2 KB
// of JSON with evidence) still fill the default 10,000-record transactions;
// an eighth made those transactions smaller, for 14% more CPU
// (BENCHMARKS.md, "Issue 12: memory with evidence"). 0 (no limit): records are counted
// only.
func txBytes(cfg *config.Config) int64 {
	n, _ := memoryLimit(cfg)
	return n / 4
}

// applyMemoryLimit sets sync.memory_limit as Go's soft memory limit for the
// length of a sync, unless GOMEMLIMIT is set; restore puts the previous
// limit back (the process may go on: pcsync demo, the tests).
func applyMemoryLimit(cfg *config.Config, log *slog.Logger) (restore func()) {
	n, by := memoryLimit(cfg)
	log.Debug("memory limit", "bytes", n, "set_by", by)
	if by != "sync.memory_limit" || n == 0 {
		return func() {}
	}
	prev := debug.SetMemoryLimit(n)
	return func() { debug.SetMemoryLimit(prev) }
}

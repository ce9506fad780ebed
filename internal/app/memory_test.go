package app

import (
	"log/slog"
	"runtime/debug"
	"testing"

	"pcsync/internal/config"
)

// A sync runs under sync.memory_limit, unless GOMEMLIMIT is set, which
// rules; the transactions' byte bound follows whichever applies.
func TestSyncMemoryLimit(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name, env, limit string
		during, tx       int64 // Go's limit during the sync (0: left alone), TxBytes
	}{
		{"the default", "", "", 80 << 20, 20 << 20},
		{"configured", "", "1GiB", 1 << 30, 256 << 20},
		{"off", "", "off", 0, 0},
		{"GOMEMLIMIT rules", "200MiB", "1GiB", 0, 50 << 20},
		{"GOMEMLIMIT off", "off", "1GiB", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env)
			cfg := config.Default()
			if tc.limit != "" {
				cfg.Sync.MemoryLimit = tc.limit
			}
			before := debug.SetMemoryLimit(-1)
			restore := applyMemoryLimit(&cfg, log)
			during := debug.SetMemoryLimit(-1)
			restore()
			if after := debug.SetMemoryLimit(-1); after != before {
				t.Fatalf("limit %d after the sync, %d before", after, before)
			}
			switch {
			case tc.during == 0 && during != before:
				t.Fatalf("limit set to %d; want it left at %d", during, before)
			case tc.during != 0 && during != tc.during:
				t.Fatalf("limit %d during the sync, want %d", during, tc.during)
			}
			if got := engineOptions(&cfg).TxBytes; got != tc.tx {
				t.Fatalf("TxBytes %d, want %d", got, tc.tx)
			}
		})
	}
}

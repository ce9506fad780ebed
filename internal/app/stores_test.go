package app

import (
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// TestBothStoresHoldTheSameRows syncs one estate into SQLite and into
// PostgreSQL, through both APIs, twice (the estate moving on in between,
// so that history, stale marks and an incremental run exist), and compares
// every table as pcsync export writes it, and what diff prints.
func TestBothStoresHoldTheSameRows(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 2, 0, 30, 12, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	lite := filepath.Join(t.TempDir(), "pcsync.db")
	creds := credentials(t, "emulator")
	sync := func(db string, args ...string) {
		t.Helper()
		code, out, errOut := run(t, append([]string{"sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db}, args...)...)
		if code != ExitOK {
			t.Fatalf("sync into %s exited %d\n%s\n%s", db, code, out, errOut)
		}
	}
	sync(lite)
	sync(pg)
	srv.Advance(time.Time{})
	sync(lite)
	sync(pg)
	for _, tab := range store.Tables {
		if tab.Name == "runs" || tab.Name == "run_batches" { // times of the runs themselves
			continue
		}
		// history is in the order the changes were seen, which depends on
		// which stream a run's workers finished first: compare as sets
		a, b := sortedLines(exportTable(t, lite, tab.Name)), sortedLines(exportTable(t, pg, tab.Name))
		if a != b {
			t.Errorf("table %s differs:\nsqlite:\n%.2000s\npostgres:\n%.2000s", tab.Name, a, b)
		}
	}
	if a, b := exportTable(t, lite, "postures"), exportTable(t, pg, "postures"); strings.Count(a, "\n") < 100 || a != b {
		t.Fatalf("postures: %d and %d lines", strings.Count(a, "\n"), strings.Count(b, "\n"))
	}
	for _, args := range [][]string{{"diff"}, {"diff", "--changes", "ndjson"}} {
		_, a, _ := run(t, append(args, "--db", lite)...)
		_, b, _ := run(t, append(args, "--db", pg)...)
		if a, b = sortedLines(a), sortedLines(b); a != b || a == "" {
			t.Errorf("%v differs:\nsqlite:\n%.2000s\npostgres:\n%.2000s", args, a, b)
		}
	}
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// db init creates a schema; --citus refuses a SQLite database before
// touching it, and a PostgreSQL database without the citus extension with
// what to do.
func TestDBInit(t *testing.T) {
	t.Parallel()
	lite := filepath.Join(t.TempDir(), "x.db")
	if code, _, errOut := run(t, "db", "init", "--db", lite, "--citus"); code != ExitUsage || !strings.Contains(errOut, "SQLite") {
		t.Fatalf("db init --citus on SQLite: exit %d %s", code, errOut)
	}
	if n := count(lite, "SELECT 1"); n != 0 {
		t.Fatal("db init --citus created the SQLite database it refused")
	}
	pg := pgtest.New(t)
	code, out, errOut := run(t, "db", "init", "--db", pg, "--citus")
	if code != ExitUsage || !strings.Contains(errOut, "CREATE EXTENSION citus") || !strings.Contains(out, "schema up to date") {
		t.Fatalf("db init --citus without citus: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := count(pg, "SELECT count(*) FROM postures"); n != 0 || count(pg, "SELECT version FROM pcsync_schema") == 0 {
		t.Fatal("db init did not create the schema")
	}
}

package app

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// TestMigrateBothWaysAndResumeAfterAKill copies a synced SQLite database
// into PostgreSQL and back, comparing every table of the three; then kills
// a migrate mid-copy, runs it again, and checks that it resumed and that
// the copy equals its source.
func TestMigrateBothWaysAndResumeAfterAKill(t *testing.T) {
	t.Parallel()
	pg, pg2 := pgtest.New(t), pgtest.New(t)
	bin := buildPcsync(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 3, 0, 60, 20, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	lite, back := filepath.Join(dir, "pcsync.db"), filepath.Join(dir, "back.db")
	creds := credentials(t, "emulator")
	for i := range 2 {
		if code, out, errOut := run(t, "sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", lite); code != ExitOK {
			t.Fatalf("sync %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
		srv.Advance(time.Time{})
	}
	for _, m := range [][2]string{{lite, pg}, {pg, back}} {
		code, out, errOut := run(t, "migrate", "--from", m[0], "--to", m[1])
		if code != ExitOK || strings.Contains(out, "DIFFERS") || !strings.Contains(out, "postures") {
			t.Fatalf("migrate %s -> %s: exit %d\n%s\n%s", m[0], m[1], code, out, errOut)
		}
	}
	sameTables(t, lite, pg, back)

	// killed part-way through postures, then resumed
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "migrate", "--from", lite, "--to", pg2, "--batch-rows", "10")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	total := count(lite, "SELECT count(*) FROM postures")
	for n := int64(0); n < 300; n = count(pg2, "SELECT count(*) FROM postures") {
		if ctx.Err() != nil {
			t.Fatalf("the migrate never got to postures:\n%s", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if n := count(pg2, "SELECT count(*) FROM postures"); n >= total {
		t.Fatalf("all %d postures were copied before the kill; the test proves nothing", n)
	}
	code, outs, errOut := run(t, "migrate", "--from", lite, "--to", pg2)
	if code != ExitOK || strings.Contains(outs, "DIFFERS") {
		t.Fatalf("the resumed migrate: exit %d\n%s\n%s", code, outs, errOut)
	}
	for _, line := range strings.Split(outs, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[0] == "postures" && f[5] == f[1] {
			t.Fatalf("the resumed migrate copied every posture again:\n%s", outs)
		}
	}
	sameTables(t, lite, pg2)
}

// sameTables compares every registry table of the databases, as export
// writes them (rows as sets: history's order depends on the run).
func sameTables(t *testing.T, dbs ...string) {
	t.Helper()
	for _, tab := range store.Tables {
		want := sortedLines(exportTable(t, dbs[0], tab.Name))
		for _, db := range dbs[1:] {
			if got := sortedLines(exportTable(t, db, tab.Name)); got != want {
				t.Errorf("table %s of %s differs from %s's:\n%.1500s\nvs\n%.1500s", tab.Name, db, dbs[0], got, want)
			}
		}
	}
}

// A target that already holds another database's rows is refused before
// anything is written: resuming would append the source's rows after
// its own. (An interrupted copy of the same source resumes: above.)
func TestMigrateRefusesADatabaseThatIsNotACopyOfItsSource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := credentials(t, "emulator")
	var dbs []string
	for i, hosts := range []int{30, 40} {
		cfg := emulator.DefaultConfig()
		cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 2, 0, hosts, 10
		ts := httptest.NewServer(newEmulator(t, cfg))
		defer ts.Close()
		db := filepath.Join(dir, fmt.Sprintf("db%d.db", i))
		if code, out, errOut := run(t, "sync", "--config", creds, "--gateway", ts.URL, "--db", db); code != ExitOK {
			t.Fatalf("sync %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
		dbs = append(dbs, db)
	}
	const figures = "SELECT (SELECT count(*) FROM runs) * 1000000 + (SELECT count(*) FROM run_batches) * 1000 + (SELECT count(*) FROM hosts)"
	before := count(dbs[1], figures)
	code, out, errOut := run(t, "migrate", "--from", dbs[0], "--to", dbs[1])
	if code != ExitUsage || !strings.Contains(errOut, "not a copy") || !strings.Contains(errOut, "nothing was written") {
		t.Errorf("migrate into another database: exit %d\n%s\n%s; want exit 2 saying it is not a copy", code, out, errOut)
	}
	if after := count(dbs[1], figures); after != before {
		t.Errorf("the target's runs, batches and hosts went from %d to %d", before, after)
	}
}

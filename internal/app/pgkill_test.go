package app

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"pcsync/internal/store/pgtest"
)

// TestAPostgreSQLServerKilledMidSync kills the PostgreSQL server (an
// immediate shutdown, as a crash) while a sync streams into it: the sync
// ends with a clear database error (exit 6); once the server is back, the
// next sync resumes the run, and the database then equals a clean run's.
func TestAPostgreSQLServerKilledMidSync(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	db, clean := pgtest.WithSchema(t, cluster.URL, "killed"), pgtest.WithSchema(t, cluster.URL, "clean")
	bin := buildPcsync(t)
	slow, fast := slowAndFast(t, 10*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	sync := func(gateway, db string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "sync", "--gateway", gateway, "--db", db, "--hosts-per-request", "20",
			"--compression=false")
		cmd.Env = append(os.Environ(), "QUALYS_USERNAME=pcsync", "QUALYS_PASSWORD=emulator")
		return cmd
	}
	first := sync(slow, db)
	var out bytes.Buffer
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	for doneBatches(t, db) < 1 {
		if ctx.Err() != nil {
			t.Fatalf("the first sync never got going:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cluster.Kill(t)
	err := first.Wait()
	code := first.ProcessState.ExitCode()
	if err == nil || code != ExitDB || !strings.Contains(out.String(), "database") {
		t.Fatalf("the sync whose server died: exit %d, want %d with a database error:\n%s", code, ExitDB, out.String())
	}
	t.Logf("the sync said: %s", lastLine(out.String()))
	cluster.Start(t)
	if n := doneBatches(t, db); n >= 18 {
		t.Fatalf("all %d batches were done before the kill; the test proves nothing", n)
	}
	again, err := sync(fast, db).CombinedOutput()
	if err != nil || !strings.Contains(string(again), "resumed") || !strings.Contains(string(again), "succeeded") {
		t.Fatalf("the sync after the server came back: %v\n%s", err, again)
	}
	if out, err := sync(fast, clean).CombinedOutput(); err != nil {
		t.Fatalf("clean sync: %v\n%s", err, out)
	}
	for _, table := range []string{"postures", "hosts", "history", "counts_host", "counts_control", "counts_policy", "current_hosts"} {
		got, want := sortedLines(exportTable(t, db, table)), sortedLines(exportTable(t, clean, table))
		if got != want || table == "postures" && strings.Count(want, "\n") < 100 {
			t.Fatalf("table %s after the crash and the resume differs from a clean run's (%d and %d lines)",
				table, strings.Count(got, "\n"), strings.Count(want, "\n"))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package app

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

// buildPcsync builds the real binary once per test run.
func buildPcsync(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pcsync")
	cmd := exec.Command("go", "build", "-o", bin, "../../cmd/pcsync")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func doneBatches(t *testing.T, db string) int64 {
	t.Helper()
	return count(db, `SELECT count(*) FROM run_batches WHERE status = 'done'`)
}

// TestSIGKILLedSyncIsResumedToTheSameDatabase kills a real pcsync sync in
// the middle of its streams, runs it again, and compares the database with
// a clean run's.
func TestSIGKILLedSyncIsResumedToTheSameDatabase(t *testing.T) {
	t.Parallel()
	bin := buildPcsync(t)
	forEachStore(t, func(t *testing.T, newDB func(string) string) { testKilledSyncResumes(t, bin, newDB) })
}

func testKilledSyncResumes(t *testing.T, bin string, newDB func(string) string) {
	slow, fast := slowAndFast(t, 8*time.Millisecond)
	gateway := slow
	sync := func(ctx context.Context, db string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "sync", "--gateway", gateway, "--db", db, "--hosts-per-request", "20", // 18 batches: within the 25 calls a minute of Qualys's budget
			"--compression=false", "--log-format", "json")
		cmd.Env = append(os.Environ(), "QUALYS_USERNAME=pcsync", "QUALYS_PASSWORD=emulator")
		return cmd
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	db := newDB("killed")
	first := sync(ctx, db)
	var firstOut bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	for doneBatches(t, db) < 3 {
		if ctx.Err() != nil {
			t.Fatalf("the first sync never got going:\n%s", firstOut.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL, mid-stream
		t.Fatal(err)
	}
	_ = first.Wait()
	if n := doneBatches(t, db); n >= 18 {
		t.Fatalf("all %d batches were done before the kill; the test proves nothing", n)
	}

	gateway = fast
	out, err := sync(ctx, db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "resumed") || !strings.Contains(string(out), "Run 1 succeeded") {
		t.Fatalf("the second sync: %v\n%s", err, out)
	}
	clean := newDB("clean")
	if out, err := sync(ctx, clean).CombinedOutput(); err != nil {
		t.Fatalf("clean sync: %v\n%s", err, out)
	}
	export := func(db string, table ...string) string {
		out, err := exec.CommandContext(ctx, bin, "export", "--db", db, "--table", append(table, "postures")[0]).Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	got, want := export(db), export(clean)
	if got != want {
		t.Fatalf("the resumed database differs from a clean run's: %d vs %d lines", strings.Count(got, "\n"), strings.Count(want, "\n"))
	}
	if strings.Count(want, "\n") == 0 {
		t.Fatal("nothing was synced")
	}
	for _, table := range []string{"hosts", "controls", "technologies", "history"} {
		if got, want := export(db, table), export(clean, table); got != want {
			t.Fatalf("table %s of the resumed database differs from a clean run's:\n%s\nvs\n%s", table, got, want)
		}
	}
	// what the run recorded: membership, and per policy what it asked for and got
	for _, q := range []string{
		`SELECT policy_id, host_id, first_run, last_run, stale_run, whole FROM policy_hosts ORDER BY 1, 2`,
		`SELECT policy_id, hosts_requested, hosts_returned, records, passed, failed, errors, coalesce(error, ''),
			stale_hosts, stale_postures FROM run_policies ORDER BY 1`,
		`SELECT status, mode, policies, batches, records, passed, failed, errors, rejects, coalesce(message, '') FROM runs`,
		`SELECT batch_no, policy_id, status, hosts, hosts_returned, records, rejects FROM run_batches ORDER BY 1`,
	} {
		if got, want := rows(t, db, q), rows(t, clean, q); got != want {
			t.Fatalf("%s\nresumed:\n%s\nclean:\n%s", q, got, want)
		}
	}
	// the counts the kill interrupted are the postures' own
	for _, q := range [][2]string{{countsHostSQL, postureHostSQL}, {countsControlSQL, postureControlSQL}} {
		if got, want := rows(t, db, q[0]), rows(t, db, q[1]); got != want || want == "" {
			t.Fatalf("counts after the resumed run:\n%s\npostures:\n%s", got, want)
		}
	}
}

// The counts tables, and the same figures computed from the postures.
const (
	countsHostSQL = `SELECT policy_id, host_id, passed, failed, errors, stale FROM counts_host
		WHERE passed + failed + errors + stale > 0 ORDER BY 1, 2`
	countsControlSQL = `SELECT policy_id, control_id, technology_id, passed, failed, errors, stale FROM counts_control
		WHERE passed + failed + errors + stale > 0 ORDER BY 1, 2, 3`
	postureTally = `sum(CASE WHEN stale_run IS NULL AND status = 'Passed' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NULL AND status = 'Failed' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NULL AND status = 'Error' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NOT NULL THEN 1 ELSE 0 END)`
	postureHostSQL    = `SELECT policy_id, host_id, ` + postureTally + ` FROM postures GROUP BY 1, 2 ORDER BY 1, 2`
	postureControlSQL = `SELECT policy_id, control_id, technology_id, ` + postureTally + ` FROM postures GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`
)

// slowAndFast serves one estate (3 policies x 120 hosts x 40 controls)
// twice: slowly (a trickle between chunks), for the run that is killed,
// and fast, so that the run after it and a clean run get the same data.
func slowAndFast(t *testing.T, trickle time.Duration) (slow, fast string) {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 3, 0, 120, 40
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(f emulator.Faults) string {
		srv, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1, Faults: f})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return ts.URL
	}
	return serve(emulator.Faults{Trickle: trickle}), serve(emulator.Faults{})
}

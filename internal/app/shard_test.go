package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pcsync/internal/emulator"
	"pcsync/internal/store/pgtest"
)

// shardSyncs runs the sync of each shard in its own pcsync process, all at
// once, into db, and waits for them.
func shardSyncs(t *testing.T, bin, gateway, db, conf string, shards []string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmds := make([]*exec.Cmd, len(shards))
	outs := make([]bytes.Buffer, len(shards))
	for i, sh := range shards {
		args := append([]string{"sync", "--config", conf, "--gateway", gateway, "--db", db, "--hosts-per-request", "10"}, extra...)
		if sh != "" {
			args = append(args, "--shard", sh)
		}
		cmds[i] = exec.CommandContext(ctx, bin, args...)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("shard %q: %v\n%s", shards[i], err, outs[i].String())
		}
	}
}

// shardConf writes a config file with the emulator's credentials and a
// PCRS rate budget.
func shardConf(t *testing.T, calls int, window time.Duration) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pcsync.yaml")
	conf := "qualys:\n  username: pcsync\n  password: emulator\npcrs:\n  rate_limit:\n    calls: " + strconv.Itoa(calls) +
		"\n    window: " + window.String() + "\n"
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestShardsTogetherEqualOneUnshardedRun runs two shard processes at once
// into one PostgreSQL database, twice (the estate moving on in between),
// and checks that the database holds, record for record, what one
// unsharded sync of the same estate stores.
func TestShardsTogetherEqualOneUnshardedRun(t *testing.T) {
	t.Parallel()
	sharded, single := pgtest.New(t), pgtest.New(t)
	bin := buildPcsync(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 6, 0, 40, 10, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	conf := shardConf(t, 1000, time.Minute)
	for round := range 2 {
		shardSyncs(t, bin, ts.URL, sharded, conf, []string{"1/2", "2/2"})
		shardSyncs(t, bin, ts.URL, single, conf, []string{""})
		for _, q := range []string{
			`SELECT id, policy_id, host_id, control_id, technology_id, instance, status, previous_status, first_fail_date,
				last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date, created,
				criticality_label, criticality_value, evidence::text, cause_of_failure::text, extra::text, stale_run IS NULL
				FROM postures ORDER BY policy_id, id`,
			`SELECT posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at FROM history ORDER BY policy_id, posture_id, changed_at`,
			`SELECT posture_id, policy_id, status, stale FROM stale_history ORDER BY policy_id, posture_id, stale`,
			`SELECT * FROM counts_host ORDER BY policy_id, host_id`,
			`SELECT * FROM counts_control ORDER BY policy_id, control_id, technology_id`,
			`SELECT policy_id, host_id, stale_run IS NULL, whole FROM policy_hosts ORDER BY 1, 2`,
			`SELECT id, ip, os, dns, compliance_last_scan_date FROM hosts ORDER BY id`,
			`SELECT id, title, status FROM policies ORDER BY id`,
			`SELECT * FROM policy_controls ORDER BY 1, 2`,
			`SELECT r.policy_id, r.hosts_requested, r.hosts_returned, r.records, r.passed, r.failed, r.errors, r.stale_hosts,
				r.stale_postures FROM run_policies r JOIN runs ON runs.id = r.run_id ORDER BY (SELECT count(*) FROM runs x
				WHERE x.id < r.run_id AND x.shard IS NOT DISTINCT FROM runs.shard), r.policy_id`,
		} {
			if got, want := rows(t, sharded, q), rows(t, single, q); got != want || want == "" && strings.Contains(q, "postures") {
				t.Fatalf("round %d: %s\nsharded:\n%.1500s\nsingle:\n%.1500s", round, q, got, want)
			}
		}
		srv.Advance(time.Time{})
	}
	runs := rows(t, sharded, `SELECT shard, status, count(*) FROM runs GROUP BY 1, 2 ORDER BY 1`)
	if runs != "1/2\tsucceeded\t2\t\n2/2\tsucceeded\t2\t\n" {
		t.Fatalf("the sharded runs recorded:\n%s", runs)
	}
	if mixed := rows(t, sharded, `SELECT count(DISTINCT r.shard) FROM run_policies p JOIN runs r ON r.id = p.run_id
		GROUP BY p.policy_id HAVING count(DISTINCT r.shard) > 1`); mixed != "" {
		t.Fatalf("a policy was synced by two shards: %s", mixed)
	}
}

// TestShardsStayWithinTheRateLimit runs three shards at once against an
// emulator that answers 429 past 6 posture calls a second: each shard takes
// a third of the budget, so none is throttled; given the whole budget each
// (--shard-rate), they are.
func TestShardsStayWithinTheRateLimit(t *testing.T) {
	t.Parallel()
	bin := buildPcsync(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 6, 0, 40, 4
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: est, RateCalls: 6, RateWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64 // 429 answers
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		srv.ServeHTTP(sw, r)
		if sw.status == http.StatusTooManyRequests {
			refused.Add(1)
		}
	}))
	defer ts.Close()
	// the clients' window is longer than the emulator's, for the time a
	// request takes to arrive: on a loaded machine (CI, 2 cores, the other
	// tests in parallel) a margin of 0.2 s let a shard's two calls land
	// 0.9 s apart, and 7 calls in one second were refused once
	conf := shardConf(t, 6, 2*time.Second)
	shards := []string{"1/3", "2/3", "3/3"}
	split := pgtest.New(t)
	shardSyncs(t, bin, ts.URL, split, conf, shards)
	if n := refused.Load(); n != 0 {
		t.Fatalf("shards sharing the budget were refused %d calls (429)", n)
	}
	if got, want := count(split, `SELECT count(*) FROM postures`), count(split, `SELECT sum(records) FROM runs WHERE status = 'succeeded'`); got == 0 || got != want {
		t.Fatalf("%d postures stored, the shards' runs say %d", got, want)
	}
	whole := pgtest.New(t)
	shardSyncs(t, bin, ts.URL, whole, conf, shards, "--shard-rate", "6")
	if n := refused.Load(); n == 0 {
		t.Fatal("shards each taking the whole budget were never throttled: the test cannot tell a split from none")
	}
}

// statusWriter notes the status of an answer, and streams as the writer
// it wraps does.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

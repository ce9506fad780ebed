package app

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/emulator"
	"pcsync/internal/store/pgtest"
	"pcsync/internal/store/sqlite"
)

// run executes pcsync with args in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(t.Context(), args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

type emu struct {
	url, certFile string
	estate        *emulator.Estate
}

// startEmulator serves a small estate over TLS and writes its certificate
// to a file, as `pcsync emulate --tls --cert-out` does.
func startEmulator(t *testing.T) *emu {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 2, 1, 20, 15, 10
	return startEmulatorOf(t, cfg)
}

// startEmulatorOf serves the estate cfg describes as startEmulator does.
func startEmulatorOf(t *testing.T, cfg emulator.Config) *emu {
	t.Helper()
	srv := newEmulator(t, cfg)
	est := srv.Estate()
	ts := httptest.NewTLSServer(srv)
	t.Cleanup(ts.Close)
	cert := filepath.Join(t.TempDir(), "emulator.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &emu{url: ts.URL, certFile: cert, estate: est}
}

// newEmulator makes an emulator of the estate cfg describes, with no rate limit.
func newEmulator(t *testing.T, cfg emulator.Config) *emulator.Server {
	t.Helper()
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// configWith writes the emulator's credentials and more YAML to a config file.
func configWith(t *testing.T, yaml string) string {
	t.Helper()
	p := credentials(t, "emulator")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, append(b, yaml...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// credentials writes a config file with the emulator's credentials (tests
// run in parallel, so they do not use the environment).
func credentials(t *testing.T, password string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pcsync.yaml")
	if err := os.WriteFile(p, []byte("qualys:\n  username: pcsync\n  password: "+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSyncThenExportEveryFormat(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "pcsync.db")
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile,
		"--db", db, "--hosts-per-request", "4", "--log-format", "json")
	if code != ExitOK {
		t.Fatalf("sync exited %d\n%s\n%s", code, out, errOut)
	}
	var total int64
	for _, p := range e.estate.Policies() {
		if p.Active() {
			c := e.estate.Counts(p.ID)
			total += c.Records
			want := fmt.Sprintf("%d  %s", p.ID, p.Title)
			if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprint(c.Records)) {
				t.Errorf("summary lacks policy %d (%d records):\n%s", p.ID, c.Records, out)
			}
		}
	}
	if !strings.Contains(out, fmt.Sprintf("Run 1 succeeded in")) || !strings.Contains(out, fmt.Sprintf(": %d records", total)) {
		t.Fatalf("summary line:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("--log-format json wrote a non-JSON line: %q", line)
		}
	}

	code, out, errOut = run(t, "export", "--db", db, "--table", "postures", "--format", "csv")
	if code != ExitOK {
		t.Fatalf("export csv exited %d: %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := "id,instance,policyId,controlId,technologyId,status,previousStatus,firstFailDate,lastFailDate,firstPassDate," +
		"lastPassDate,postureModifiedDate,lastEvaluatedDate,created,hostId,ip,trackingMethod,os,osCpe,dns,qgHostid,networkId," +
		"networkName,complianceLastScanDate,customerUuid,customerId,assetId,technology.id,technology.name,criticality.label," +
		"criticality.value,evidence,causeOfFailure,extra"
	if strings.Join(rows[0], ",") != wantHeader || int64(len(rows)-1) != total {
		t.Fatalf("csv header %v and %d rows; want %d rows", rows[0], len(rows)-1, total)
	}

	out2 := filepath.Join(t.TempDir(), "postures.json")
	if code, _, errOut = run(t, "export", "--db", db, "--format", "json", "--out", out2); code != ExitOK {
		t.Fatalf("export json exited %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(out2)
	var arr []map[string]any
	if err := json.Unmarshal(data, &arr); err != nil || int64(len(arr)) != total {
		t.Fatalf("json export: %v, %d records", err, len(arr))
	}
	if code, out, errOut := run(t, "export", "--db", db, "--table", "runs", "--out", "-"); code != ExitOK || !strings.Contains(out, `"id":`) {
		t.Fatalf("export --out -: exit %d, stdout %.80q, %s; want the runs on standard output", code, out, errOut)
	}
	for _, table := range []string{"policies", "hosts", "controls", "technologies", "runs"} {
		code, out, errOut := run(t, "export", "--db", db, "--table", table, "--format", "ndjson")
		if code != ExitOK || strings.Count(out, "\n") == 0 {
			t.Fatalf("export %s exited %d with %q: %s", table, code, out, errOut)
		}
		var first map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil || first["id"] == nil {
			t.Fatalf("export %s: first line %q", table, strings.SplitN(out, "\n", 2)[0])
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	dir := t.TempDir()
	good := credentials(t, "emulator")
	db := filepath.Join(dir, "x.db")
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"unknown flag", []string{"sync", "--bogus"}, ExitUsage, "unknown flag"},
		{"no credentials", []string{"sync", "--platform", "US1", "--db", db, "--config", filepath.Join(dir, "empty.yaml")}, ExitUsage, "QUALYS_PASSWORD"},
		{"unknown platform", []string{"sync", "--config", good, "--platform", "MARS9", "--db", db}, ExitUsage, "unknown platform"},
		{"policy not a number", []string{"sync", "--config", good, "--platform", "US1", "--policy", "12,abc", "--db", db}, ExitUsage, `"abc" is not a policy id`},
		{"malformed url", []string{"sync", "--config", good, "--gateway", "gateway.example.com", "--db", db}, ExitUsage, "not a URL"},
		{"unwritable db", []string{"sync", "--config", good, "--platform", "US1", "--db", filepath.Join(dir, "nope", "x.db")}, ExitUsage, "does not exist"},
		{"classic without its url", []string{"sync", "--config", good, "--gateway", e.url, "--source", "classic", "--db", db}, ExitUsage, "classic API URL"},
		{"wrong password", []string{"sync", "--config", credentials(t, "wrong"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", db}, ExitAuth, "refused"},
		{"untrusted certificate", []string{"sync", "--config", good, "--gateway", e.url, "--db", db}, ExitAPI, "certificate signed by unknown authority: for a private CA or an emulator give --ca-cert FILE"},
		{"export missing db", []string{"export", "--db", filepath.Join(dir, "missing.db")}, ExitUsage, "does not exist"},
		{"export bad table", []string{"export", "--db", db, "--table", "bogus"}, ExitUsage, "unknown table"},
		{"export into a directory", []string{"export", "--db", db, "--table", "runs", "--out", dir}, ExitUsage, "is a directory"},
		{"parquet to standard output", []string{"export", "--db", db, "--format", "parquet", "--out", "-"}, ExitUsage, "not to standard output"},
		{"parquet of one table", []string{"export", "--db", db, "--format", "parquet", "--table", "hosts", "--out", filepath.Join(dir, "lake")}, ExitUsage, "leave out --table"},
		{"too many writers", []string{"sync", "--config", good, "--platform", "US1", "--db", db, "--db-writers", "9999"}, ExitUsage, "--db-writers 9999 is out of range: use 1 to 32"},
		{"unknown log level", []string{"sync", "--config", good, "--platform", "US1", "--db", db, "--log-level", "loud"}, ExitUsage, `"loud" is not one of debug, info`},
		{"unknown log format", []string{"check", "--config", good, "--platform", "US1", "--log-format", "jsn"}, ExitUsage, `"jsn" is not one of text, json`},
		{"unknown log level in the config file", []string{"sync", "--config", configWith(t, "log:\n  level: loud\n"), "--platform", "US1", "--db", db}, ExitUsage, `log.level: "loud": use debug, info, warn or error`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no credentials" {
				os.WriteFile(filepath.Join(dir, "empty.yaml"), nil, 0o600)
				if os.Getenv("QUALYS_PASSWORD") != "" {
					t.Skip("QUALYS_PASSWORD is set in this environment")
				}
			}
			code, out, errOut := run(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.says) {
				t.Fatalf("exit %d (want %d), stderr %q (want it to say %q), stdout %q", code, tc.code, errOut, tc.says, out)
			}
			if strings.Count(strings.TrimSpace(errOut), "\n") > 3 {
				t.Fatalf("error output is not short: %q", errOut)
			}
		})
	}
}

func TestInsecureAndPlainHTTPWarn(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--insecure-skip-verify",
		"--db", filepath.Join(t.TempDir(), "x.db"), "--log-level", "error")
	if code != ExitOK || !strings.Contains(errOut, "verification is OFF") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestDemoRunsWithoutFlags(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	code, out, errOut := run(t, "demo", "--no-serve", "--db", db, "--hosts", "60", "--hosts-per-policy", "50", "--controls", "12")
	if code != ExitOK || !strings.Contains(out, "succeeded") || !strings.Contains(out, "Next:") {
		t.Fatalf("demo exited %d\n%s\n%s", code, out, errOut)
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() == 0 {
		t.Fatalf("demo database: %v", err)
	}
	if strings.Contains(out, "Changes after") {
		t.Fatalf("a first demo run has nothing to compare with:\n%s", out)
	}

	// Again on the same database: the estate has moved on a scan cycle, the
	// run is incremental and demo shows what changed.
	code, out, errOut = run(t, "demo", "--no-serve", "--db", db, "--hosts", "60", "--hosts-per-policy", "50", "--controls", "12")
	if code != ExitOK || !strings.Contains(out, "scan cycle 1") || !strings.Contains(out, "incremental run") {
		t.Fatalf("second demo exited %d\n%s\n%s", code, out, errOut)
	}
	_, total, ok := strings.Cut(out, "Changes after run 1 up to run 2:")
	if !ok {
		t.Fatalf("second demo shows no changes:\n%s", out)
	}
	var failing, passing int
	for _, line := range strings.Split(total, "\n") {
		if f := strings.Fields(line); len(f) == 7 && f[0] == "total" {
			failing, _ = strconv.Atoi(f[1])
			passing, _ = strconv.Atoi(f[2])
		}
	}
	if failing+passing == 0 {
		t.Fatalf("a scan cycle flipped no status:\n%s", out)
	}
}

func TestEmulateServesUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		done <- Main(ctx, []string{"emulate", "--listen", "127.0.0.1:0", "--hosts", "5", "--controls", "3"}, IOStreams{Out: pw, ErrOut: io.Discard})
		pw.Close()
	}()
	banner := make([]byte, 4096)
	n, _ := pr.Read(banner)
	line := strings.SplitN(string(banner[:n]), "\n", 2)[0]
	url, ok := strings.CutPrefix(line, "pcsync emulator serving ")
	if !ok {
		t.Fatalf("banner %q", line)
	}
	go io.Copy(io.Discard, pr)
	db := filepath.Join(t.TempDir(), "x.db")
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", url, "--db", db)
	if code != ExitOK || !strings.Contains(errOut, "plain http") {
		t.Fatalf("sync against pcsync emulate: exit %d\n%s\n%s", code, out, errOut)
	}
	cancel()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("emulate exited %d after cancel", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("emulate did not stop")
	}
}

func TestIncrementalSyncHistoryAndDiff(t *testing.T) {
	t.Parallel()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 2, 0, 30, 12, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	db := filepath.Join(t.TempDir(), "pcsync.db")
	creds := credentials(t, "emulator")
	sync := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(t, append([]string{"sync", "--config", creds, "--gateway", ts.URL, "--db", db}, args...)...)
		if code != ExitOK {
			t.Fatalf("sync exited %d\n%s\n%s", code, out, errOut)
		}
		return out
	}
	if out := sync(); !strings.Contains(out, "full run") {
		t.Fatalf("first sync:\n%s", out)
	}
	srv.Advance(time.Time{})
	if out := sync(); !strings.Contains(out, "incremental run (changes since") {
		t.Fatalf("second sync:\n%s", out)
	}
	code, out, errOut := run(t, "diff", "--db", db)
	if code != ExitOK || !strings.Contains(out, "Changes after run 1 up to run 2") || !strings.Contains(out, "NEWLY FAILING") {
		t.Fatalf("diff: %d\n%s\n%s", code, out, errOut)
	}
	for _, runs := range [][]string{{"--from", "1", "--to", "99"}, {"--from", "98", "--to", "99"}, {"--to", "99"}} {
		if code, _, errOut := run(t, append([]string{"diff", "--db", db}, runs...)...); code != ExitUsage || !strings.Contains(errOut, "no such run") {
			t.Errorf("diff %v: exit %d, %q; want exit 2 saying there is no such run", runs, code, errOut)
		}
	}
	code, hist, _ := run(t, "export", "--db", db, "--table", "history", "--format", "csv")
	if code != ExitOK || !strings.HasPrefix(hist, "postureId,policyId,hostId,controlId,oldStatus,newStatus,changedAt,runId\n") ||
		strings.Count(hist, "\n") < 3 {
		t.Fatalf("history export: %d\n%s", code, hist)
	}
	code, changes, _ := run(t, "diff", "--db", db, "--changes", "ndjson")
	if code != ExitOK || strings.Count(changes, `"kind":"newly-`)+strings.Count(changes, `"kind":"stale"`) != strings.Count(changes, "\n") {
		t.Fatalf("diff --changes: %d\n%.500s", code, changes)
	}
	if out := sync("--full"); !strings.Contains(out, "full run") {
		t.Fatalf("--full:\n%s", out)
	}
}

func TestConcurrentSyncExitsBusy(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "x.db")
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	release, err := st.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	link := filepath.Join(t.TempDir(), "link.db") // the same database through a symbolic link
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{db, link} {
		code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", path)
		if code != ExitBusy || !strings.Contains(errOut, "another pcsync sync or migrate is writing to this database (pid ") {
			t.Errorf("--db %s: exit %d, %q; want exit 7", path, code, errOut)
		}
	}
}

// A second name of the database (a hard link) is refused before a sync
// writes: SQLite's write-ahead log is kept beside the name, so writes
// through two names corrupt the file. The lock beside the name would not
// see the other name's sync either.
func TestAHardLinkedDatabaseIsRefused(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "x.db")
	sync := func(path string) (int, string) {
		code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", path)
		return code, errOut
	}
	if code, errOut := sync(db); code != ExitOK {
		t.Fatalf("first sync: exit %d %s", code, errOut)
	}
	before := count(db, "SELECT count(*) FROM runs")
	link := filepath.Join(dir, "other-name.db")
	if err := os.Link(db, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{db, link} {
		code, errOut := sync(path)
		if code != ExitDB || !strings.Contains(errOut, "has 2 names (hard links)") || !strings.Contains(errOut, "remove the other links") {
			t.Errorf("--db %s: exit %d, %q; want exit 6 saying the database has two names", path, code, errOut)
		}
	}
	if n := count(db, "SELECT count(*) FROM runs"); n != before {
		t.Errorf("the refused syncs wrote: %d runs, %d before", n, before)
	}
	os.Remove(link)
	if code, errOut := sync(db); code != ExitOK {
		t.Fatalf("sync once the link is gone: exit %d %s", code, errOut)
	}
}

// A policy named twice is synced once: its batches are not fetched twice,
// and the run's ledger counts what was stored.
func TestAPolicyNamedTwiceIsSyncedOnce(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "x.db")
	policy := strconv.FormatInt(e.estate.Policies()[0].ID, 10)
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile,
		"--db", db, "--policy", policy+","+policy)
	if code != ExitOK {
		t.Fatalf("sync: exit %d\n%s\n%s", code, out, errOut)
	}
	records, postures := count(db, "SELECT records FROM runs"), count(db, "SELECT count(*) FROM postures")
	batches := count(db, "SELECT count(*) FROM run_batches")
	distinct := count(db, "SELECT count(DISTINCT policy_id) FROM run_batches")
	if postures == 0 || records != postures || distinct != 1 || count(db, "SELECT count(*) FROM run_policies") != 1 {
		t.Errorf("--policy %s,%s: the run recorded %d records for %d postures in %d batches of %d policies",
			policy, policy, records, postures, batches, distinct)
	}
}

// Hosts that leave a policy between a classic run and a PCRS run have
// their postures marked stale, as between two PCRS runs: a classic run
// stores postures without the policy's host list, and the PCRS run after
// it once had nothing to tell the departed hosts by (pcsync demo runs
// classic, then PCRS).
func TestHostsThatLeftAfterAClassicRunAreStale(t *testing.T) {
	t.Parallel()
	creds := credentials(t, "emulator")
	for _, kind := range []string{"sqlite", "postgres"} {
		stale := map[string][2]int64{}
		for _, first := range []string{"classic", "pcrs"} {
			cfg := emulator.DefaultConfig()
			cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.ChurnPercent = 2, 0, 60, 10, 20
			srv := newEmulator(t, cfg)
			ts := httptest.NewServer(srv)
			defer ts.Close()
			db := filepath.Join(t.TempDir(), first+".db")
			if kind == "postgres" {
				db = pgtest.New(t)
			}
			for i, source := range []string{first, "pcrs"} {
				code, out, errOut := run(t, "sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db, "--source", source)
				if code != ExitOK {
					t.Fatalf("%s: %s, then pcrs: sync %d: exit %d\n%s\n%s", kind, first, i, code, out, errOut)
				}
				srv.Advance(time.Time{})
			}
			stale[first] = [2]int64{count(db, "SELECT count(*) FROM postures WHERE stale_run IS NOT NULL"),
				count(db, "SELECT count(*) FROM postures WHERE stale_run IS NULL AND host_id NOT IN (SELECT host_id FROM policy_hosts WHERE stale_run IS NULL)")}
		}
		if stale["pcrs"][0] == 0 {
			t.Fatalf("%s: no host left the policies between the runs: the test proves nothing", kind)
		}
		if stale["classic"] != stale["pcrs"] || stale["classic"][1] != 0 {
			t.Errorf("%s: classic then PCRS: %d stale postures, %d current ones of hosts no longer in their policy; PCRS twice: %d and %d",
				kind, stale["classic"][0], stale["classic"][1], stale["pcrs"][0], stale["pcrs"][1])
		}
	}
}

// A classic full run counts as hosts that left a policy those it left
// without a current posture of the policy (the classic API lists no hosts
// per policy): its ledger says so, as SQL over the postures counts them.
func TestAClassicFullRunCountsTheHostsThatLeft(t *testing.T) {
	t.Parallel()
	creds := credentials(t, "emulator")
	forEachStore(t, func(t *testing.T, newDB func(string) string) {
		cfg := emulator.DefaultConfig()
		cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.ChurnPercent = 2, 0, 60, 10, 20
		srv := newEmulator(t, cfg)
		ts := httptest.NewServer(srv)
		defer ts.Close()
		db := newDB("classic")
		for i := range 2 {
			code, out, errOut := run(t, "sync", "--config", creds, "--api", ts.URL, "--db", db, "--source", "classic", "--full")
			if code != ExitOK {
				t.Fatalf("classic sync %d: exit %d\n%s\n%s", i, code, out, errOut)
			}
			srv.Advance(time.Time{})
		}
		want := rows(t, db, `SELECT policy_id, count(DISTINCT host_id) FROM postures p WHERE stale_run = 2 AND NOT EXISTS
			(SELECT 1 FROM postures c WHERE c.policy_id = p.policy_id AND c.host_id = p.host_id AND c.stale_run IS NULL)
			GROUP BY policy_id ORDER BY policy_id`)
		got := rows(t, db, `SELECT policy_id, stale_hosts FROM run_policies WHERE run_id = 2 AND stale_hosts > 0 ORDER BY policy_id`)
		if want == "" || got != want {
			t.Errorf("hosts that left, by the ledger:\n%s\nby SQL over the postures:\n%s", got, want)
		}
	})
}

// The runs export carries the whole ledger of each run, as the database
// has it: mode, since, resumes, limit waits, retries, shard and problems
// beside the counts.
func TestTheRunsExportIsTheWholeLedger(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "pcsync.db")
	for i := range 2 { // a full run, then an incremental one
		if code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", db); code != ExitOK {
			t.Fatalf("sync %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
	}
	code, out, errOut := run(t, "export", "--db", db, "--table", "runs", "--format", "ndjson")
	if code != ExitOK {
		t.Fatalf("export: exit %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d runs exported, want 2", len(lines))
	}
	conn, err := sqlite3.OpenFlags(db, sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, line := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		st, _, err := conn.Prepare(`SELECT mode, coalesce(strftime('%Y-%m-%dT%H:%M:%SZ', since), ''), resumed, throttles, retries,
			coalesce(shard, ''), coalesce(problems, '') FROM runs WHERE id = ?`)
		if err != nil {
			t.Fatal(err)
		}
		st.BindInt64(1, int64(r["id"].(float64)))
		if !st.Step() {
			t.Fatalf("run %v is not in the database", r["id"])
		}
		since, _ := r["since"].(string)
		problems, _ := json.Marshal(r["problems"])
		got := fmt.Sprint(r["mode"], "|", since, "|", r["resumed"], "|", r["throttles"], "|", r["retries"], "|", r["shard"])
		want := fmt.Sprint(st.ColumnText(0), "|", st.ColumnText(1), "|", st.ColumnInt64(2), "|", st.ColumnInt64(3), "|",
			st.ColumnInt64(4), "|", st.ColumnText(5))
		if got != want {
			t.Errorf("run %v exported as %s; the database has %s", r["id"], got, want)
		}
		if p := st.ColumnText(6); p != "" && p != "[]" && string(problems) != p || (p == "" || p == "[]") && string(problems) != "[]" {
			t.Errorf("run %v: problems exported as %s; the database has %q", r["id"], problems, p)
		}
		st.Close()
	}
	if !strings.Contains(out, `"mode":"full"`) || !strings.Contains(out, `"mode":"incremental"`) {
		t.Errorf("the export has not both modes:\n%s", out)
	}
}

// A command stopped by Ctrl-C says what that means and what to do, not
// a bare "context canceled".
func TestAnInterruptedCommandSaysWhatToDo(t *testing.T) {
	t.Parallel()
	db := syncedDB(t, startEmulator(t))
	for _, args := range [][]string{
		{"export", "--db", db, "--table", "postures", "--out", filepath.Join(t.TempDir(), "p.ndjson")},
		{"migrate", "--from", db, "--to", filepath.Join(t.TempDir(), "copy.db")},
	} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errOut bytes.Buffer
		code := Main(ctx, args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if code != ExitInterrupted || !strings.Contains(errOut.String(), "run the same command again to finish") {
			t.Errorf("%v interrupted: exit %d, %q", args[0], code, errOut.String())
		}
	}
}

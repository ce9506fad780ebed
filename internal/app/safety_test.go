package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/emulator"
	"pcsync/internal/store/pgtest"
)

// syncedDB syncs the test emulator into a new database and returns its path.
func syncedDB(t *testing.T, e *emu) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "victim.db")
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile,
		"--db", db, "--log-level", "error")
	if code != ExitOK {
		t.Fatalf("sync exited %d\n%s\n%s", code, out, errOut)
	}
	return db
}

// snapshot is a file's bytes, or nil when it does not exist.
func snapshot(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

func TestNoOutputPathCanDestroyTheDatabase(t *testing.T) { // not parallel: it changes directory
	e := startEmulator(t)
	db := syncedDB(t, e)
	dir := filepath.Dir(db)
	t.Chdir(dir) // relative paths as a user would type them
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(db, "alias.db"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("victim.db-wal", "wal-alias"); err != nil { // a companion that does not exist now
		t.Fatal(err)
	}
	before := snapshot(t, db)
	creds := credentials(t, "emulator")
	for _, tc := range [][]string{
		{"export", "--db", "victim.db", "--out", "victim.db"},
		{"export", "--db", db, "--out", "./sub/../victim.db"},
		{"export", "--db", "victim.db", "--out", "alias.db"},
		{"export", "--db", "victim.db", "--out", "wal-alias", "--format", "csv"},
		{"export", "--db", "victim.db", "--out", "victim.db.lock"},
		{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", "victim.db", "--rejects", "victim.db"},
		{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", "victim.db", "--rejects", "alias.db"},
		{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", "victim.db", "--rejects", "./sub/../victim.db-shm"},
		{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", "victim.db", "--cpuprofile", "victim.db"},
		{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", "victim.db", "--memprofile", "alias.db"},
		{"migrate", "--from", "victim.db", "--to", "victim.db"},
		{"migrate", "--from", "victim.db", "--to", "alias.db"},
		{"migrate", "--from", "victim.db", "--to", "sqlite:wal-alias"},
	} {
		code, _, errOut := run(t, tc...)
		if code != ExitUsage || !strings.Contains(errOut, "would destroy the database") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 saying it would destroy the database", tc, code, errOut)
		}
		if after := snapshot(t, db); !bytes.Equal(before, after) {
			t.Fatalf("%v changed the database (%d bytes before, %d after)", tc, len(before), len(after))
		}
		if _, err := os.Stat(db + "-wal"); err == nil && tc[0] == "export" {
			t.Fatalf("%v created %s", tc, db+"-wal")
		}
	}
}

func TestAnInterruptedExportLeavesThePreviousFile(t *testing.T) {
	t.Parallel()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 2, 0, 500, 50 // 50,000 postures
	ts := httptest.NewTLSServer(newEmulator(t, cfg))
	t.Cleanup(ts.Close)
	cert := filepath.Join(t.TempDir(), "emulator.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	db := syncedDB(t, &emu{url: ts.URL, certFile: cert})
	out := filepath.Join(t.TempDir(), "postures.csv")
	if err := os.WriteFile(out, []byte("yesterday's export\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ctrl-C as soon as the export has begun to write
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if tmp, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".postures.csv.tmp-*")); len(tmp) > 0 {
				cancel()
				return
			}
			<-time.After(100 * time.Microsecond)
		}
	}()
	var stdout, stderr bytes.Buffer
	if code := Main(ctx, []string{"export", "--db", db, "--out", out, "--format", "csv"}, IOStreams{Out: &stdout, ErrOut: &stderr}); code != ExitInterrupted {
		t.Fatalf("an interrupted export exited %d (%s), want %d", code, stderr.String(), ExitInterrupted)
	}
	if b := snapshot(t, out); string(b) != "yesterday's export\n" {
		t.Fatalf("an interrupted export left %d bytes in place of the previous file", len(b))
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Fatalf("files left beside the export: %v", ents)
	}
	if code, _, errOut := run(t, "export", "--db", db, "--out", out, "--format", "csv"); code != ExitOK {
		t.Fatalf("export exited %d: %s", code, errOut)
	}
	if b := snapshot(t, out); !strings.HasPrefix(string(b), "id,instance,") {
		t.Fatalf("the export did not replace the file: %.40q", b)
	}
}

func TestReadersRefuseWhatPcsyncDidNotWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o644)
	random := filepath.Join(dir, "random.db")
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	os.WriteFile(random, noise, 0o644)
	other := filepath.Join(dir, "other.db")
	conn, err := sqlite3.Open(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine')"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	for _, path := range []string{empty, random, other} {
		before := snapshot(t, path)
		for _, args := range [][]string{{"export", "--db", path}, {"export", "--db", path, "--table", "runs"}, {"diff", "--db", path}} {
			code, out, errOut := run(t, args...)
			if code != ExitDB || !strings.Contains(errOut, "not a pcsync database: "+path) {
				t.Errorf("%v: exit %d, stderr %q, stdout %.60q; want exit 6 and \"not a pcsync database: %s\"", args, code, errOut, out, path)
			}
			if after := snapshot(t, path); !bytes.Equal(before, after) {
				t.Fatalf("%v changed %s", args, path)
			}
			for _, companion := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(path + companion); err == nil {
					t.Fatalf("%v created %s", args, path+companion)
				}
			}
		}
	}
}

func TestReadersWorkWhileASyncWrites(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := syncedDB(t, e)
	// the same estate again, served slowly: the sync writes for a while
	slow, err := emulator.New(emulator.Options{Estate: e.estate, RateCalls: -1, Faults: emulator.Faults{Trickle: 20 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(slow)
	t.Cleanup(ts.Close)
	done := make(chan int, 1)
	go func() {
		code, _, _ := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", ts.URL,
			"--db", db, "--full", "--hosts-per-request", "2", "--log-level", "error")
		done <- code
	}()
	reads := 0
	for {
		for _, args := range [][]string{{"export", "--db", db, "--table", "postures"}, {"diff", "--db", db}} {
			if code, _, errOut := run(t, args...); code != ExitOK {
				t.Fatalf("%v while a sync writes: exit %d: %s", args, code, errOut)
			}
		}
		reads++
		select {
		case code := <-done:
			if code != ExitOK {
				t.Fatalf("the sync exited %d", code)
			}
			if reads < 3 {
				t.Fatalf("only %d reads ran while the sync wrote", reads)
			}
			return
		default:
		}
	}
}

func TestADatabaseTheSyncCannotWriteExits6(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := syncedDB(t, e)
	args := []string{"sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", db}
	if os.Geteuid() != 0 {
		if err := os.Chmod(db, 0o444); err != nil {
			t.Fatal(err)
		}
		if code, _, errOut := run(t, args...); code != ExitDB || !strings.Contains(errOut, "cannot write") {
			t.Fatalf("exit %d, stderr %q; want exit 6 saying it cannot write", code, errOut)
		}
		return
	}
	// root writes anything: run the real binary as an unprivileged user
	bin := buildPcsync(t)
	for _, p := range []string{filepath.Dir(bin), filepath.Dir(filepath.Dir(bin)), filepath.Dir(db), filepath.Dir(filepath.Dir(db)),
		filepath.Dir(args[2]), filepath.Dir(filepath.Dir(args[2])), filepath.Dir(e.certFile), filepath.Dir(filepath.Dir(e.certFile))} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(args[2], 0o644) // the config file (its password is a test one)
	os.Chmod(e.certFile, 0o644)
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != ExitDB || !strings.Contains(stderr.String(), "cannot write") {
		t.Fatalf("as another user: exit %d (%v), stderr %q; want exit 6 saying it cannot write", code, err, stderr.String())
	}
}

// A sync (or db init) given another program's SQLite database refuses it
// before writing anything: it would otherwise add its tables beside that
// program's and switch the file to WAL. One file has tables and no
// user_version, the other a user_version and a table named as one of
// pcsync's.
func TestTheSyncRefusesAnotherProgramsDatabase(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	dir := t.TempDir()
	var paths []string
	for name, sql := range map[string]string{
		"notes.db": "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine')",
		"app.db":   "PRAGMA user_version = 7; CREATE TABLE hosts (name TEXT); INSERT INTO hosts VALUES ('db1')",
	} {
		path := filepath.Join(dir, name)
		conn, err := sqlite3.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Exec(sql); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		paths = append(paths, path)
	}
	creds := credentials(t, "emulator")
	for _, path := range paths {
		before := snapshot(t, path)
		for _, args := range [][]string{
			{"sync", "--config", creds, "--gateway", e.url, "--ca-cert", e.certFile, "--db", path},
			{"db", "init", "--db", path},
		} {
			code, _, errOut := run(t, args...)
			if code != ExitDB || !strings.Contains(errOut, "not a pcsync database: "+path+" (another program's tables: ") {
				t.Errorf("%v: exit %d, stderr %q; want exit 6 naming another program's tables", args, code, errOut)
			}
			if after := snapshot(t, path); !bytes.Equal(before, after) {
				t.Fatalf("%v changed %s", args, path)
			}
			if _, err := os.Stat(path + "-wal"); err == nil {
				t.Fatalf("%v created %s", args, path+"-wal")
			}
		}
	}
}

// The same holds for a PostgreSQL schema that holds another program's
// tables: a sync, db init and migrate --to refuse it with exit 6 and
// leave it as it was.
func TestTheSyncRefusesAnotherProgramsPostgreSQLSchema(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	dsn := pgtest.New(t)
	pgtest.Exec(t, dsn, "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'Ada')")
	source := syncedDB(t, e)
	for _, args := range [][]string{
		{"sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile, "--db", dsn},
		{"db", "init", "--db", dsn},
		{"migrate", "--from", source, "--to", dsn},
	} {
		code, _, errOut := run(t, args...)
		if code != ExitDB || !strings.Contains(errOut, "not a pcsync database: ") ||
			!strings.Contains(errOut, "(another program's tables in schema pcsync_test_") {
			t.Errorf("%s: exit %d, stderr %q; want exit 6 naming another program's tables", args[0], code, errOut)
		}
	}
	if got := pgRows(t, dsn, "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = current_schema()"); got != "customers\t\n" {
		t.Fatalf("the schema holds %q; want only the other program's table", got)
	}
}

// emulate --cert-out writes only over an earlier certificate: a database
// (or any other file) at that path is refused before anything is written,
// and a certificate is replaced whole.
func TestCertOutNeverReplacesAnotherFile(t *testing.T) {
	t.Parallel()
	db := syncedDB(t, startEmulator(t))
	before := snapshot(t, db)
	code, _, errOut := run(t, "emulate", "--tls", "--cert-out", db, "--listen", "127.0.0.1:0")
	if code != ExitUsage || !strings.Contains(errOut, "--cert-out "+db+" exists and is not what pcsync writes there") {
		t.Fatalf("--cert-out naming the database: exit %d, %q; want exit 2", code, errOut)
	}
	if !bytes.Equal(snapshot(t, db), before) {
		t.Fatal("--cert-out changed the database")
	}
	cert := filepath.Join(t.TempDir(), "emulator.pem")
	for i := range 2 { // a new file, then over the earlier certificate
		_, pemBytes, err := emulator.SelfSignedCert()
		if err != nil {
			t.Fatal(err)
		}
		if err := writeCert(cert, pemBytes); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if got := snapshot(t, cert); !bytes.Equal(got, pemBytes) {
			t.Fatalf("write %d: the file is not the certificate", i)
		}
	}
	if err := writeCert(filepath.Join(t.TempDir(), "no", "such", "x.pem"), []byte("-----BEGIN x")); err == nil ||
		!strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), ".tmp-") {
		t.Errorf("a missing directory: %v; want it named, not a temporary file's name", err)
	}
}

// A database flag without a password gets no warning about one: neither a
// SQLite path with ':' and '@' in it nor a PostgreSQL URL with a user only.
func TestNoPasswordWarningWithoutAPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, db := range []string{filepath.Join(dir, "a:b@c.db"), "postgres://pcsync@127.0.0.1:1/nowhere?connect_timeout=1"} {
		_, _, errOut := run(t, "db", "init", "--db", db)
		if strings.Contains(errOut, "password") {
			t.Errorf("db init --db %s: %q; want no word of a password", db, errOut)
		}
	}
}

// export --out writes into what its path names and never replaces more
// than the file: a link to a device (/dev/null here) or a FIFO is written
// to as it is, a symbolic link to a file keeps its place and the file it
// names gets the export, and a parquet directory named through a link is
// replaced behind the link.
func TestExportOutWritesThroughWhatItsPathNames(t *testing.T) {
	t.Parallel()
	db := syncedDB(t, startEmulator(t))
	dir := t.TempDir()
	isLink := func(path string) bool {
		fi, err := os.Lstat(path)
		return err == nil && fi.Mode()&os.ModeSymlink != 0
	}
	null := filepath.Join(dir, "null")
	if err := os.Symlink("/dev/null", null); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "export", "--db", db, "--table", "runs", "--format", "csv", "--out", null); code != ExitOK || !isLink(null) {
		t.Errorf("--out a link to /dev/null: exit %d %q; the link is a link: %v", code, errOut, isLink(null))
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// read and write ends at once, so that neither open waits for the
	// other, and a reader that gives up (a runs export fits a pipe's buffer)
	reader, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	code, _, errOut := run(t, "export", "--db", db, "--table", "runs", "--format", "csv", "--out", fifo)
	reader.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 64<<10)
	n, _ := reader.Read(b)
	if b = b[:n]; code != ExitOK || !bytes.HasPrefix(b, []byte("id,")) {
		t.Errorf("--out a FIFO: exit %d %q; its reader got %.40q", code, errOut, b)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", fi.Mode(), err)
	}
	target, link := filepath.Join(dir, "target.csv"), filepath.Join(dir, "link.csv")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target.csv", link); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "export", "--db", db, "--table", "runs", "--format", "csv", "--out", link)
	if b, _ := os.ReadFile(target); code != ExitOK || !isLink(link) || !bytes.HasPrefix(b, []byte("id,")) {
		t.Errorf("--out a link to a file: exit %d %q; link kept %v; the file it names holds %.40q", code, errOut, isLink(link), b)
	}
	realDir, linkDir := filepath.Join(dir, "parquet"), filepath.Join(dir, "parquet-link")
	if err := os.Mkdir(realDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("parquet", linkDir); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, "export", "--db", db, "--format", "parquet", "--out", linkDir)
	if files, _ := filepath.Glob(filepath.Join(realDir, "*.parquet")); code != ExitOK || !isLink(linkDir) || len(files) == 0 {
		t.Errorf("--out a link to a directory: exit %d %q; link kept %v; %d parquet files behind it", code, errOut, isLink(linkDir), len(files))
	}
}

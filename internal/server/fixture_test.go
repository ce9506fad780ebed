package server_test

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/app"
	"pcsync/internal/emulator"
	"pcsync/internal/server"
	"pcsync/internal/store/sqlite"
)

// syncedDB builds a database the way users do: the emulator serves both
// APIs; a first sync takes the classic posture (so exceptions exist) with
// the catalogue (sections, statements, frameworks), then the estate moves
// a scan cycle on and a second, incremental sync through PCRS records what
// changed. It returns the database's path.
func syncedDB(t *testing.T) string {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 2, 1, 40, 14
	cfg.FlipPermille, cfg.ChurnPercent = 150, 10
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(emu)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	db := filepath.Join(dir, "pcsync.db")
	creds := filepath.Join(dir, "pcsync.yaml")
	if err := os.WriteFile(creds, []byte("qualys:\n  username: pcsync\n  password: emulator\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pcsync(t, "sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db, "--source", "classic")
	emu.Advance(time.Time{})
	pcsync(t, "sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db)
	return db
}

// pcsync runs the command in-process and fails the test unless it exits 0.
func pcsync(t *testing.T, args ...string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(t.Context(), args, app.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	if code != 0 {
		t.Fatalf("pcsync %s: exit %d\n%s\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
	}
}

// serve serves the dashboard over db on loopback, with token if not "".
func serve(t *testing.T, db, token string) *httptest.Server {
	t.Helper()
	rd, err := sqlite.OpenReader(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	ts := httptest.NewServer(server.New(server.Options{Reader: rd, Token: token, Version: "test"}))
	t.Cleanup(ts.Close)
	return ts
}

// sqlDB is the test's own view of the database: plain SQL, not the
// Reader, so that the figures the pages show are checked against what is
// stored.
type sqlDB struct {
	t    *testing.T
	conn *sqlite3.Conn
}

func openSQL(t *testing.T, path string) *sqlDB {
	t.Helper()
	conn, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sqlDB{t: t, conn: conn}
}

// ints runs a query and returns the integer columns of its first row.
func (d *sqlDB) ints(query string, args ...any) []int64 {
	d.t.Helper()
	st, _, err := d.conn.Prepare(query)
	if err != nil {
		d.t.Fatalf("%s: %v", query, err)
	}
	defer st.Close()
	for i, a := range args {
		switch v := a.(type) {
		case int64:
			err = st.BindInt64(i+1, v)
		case string:
			err = st.BindText(i+1, v)
		default:
			d.t.Fatalf("bind %T", a)
		}
		if err != nil {
			d.t.Fatal(err)
		}
	}
	var out []int64
	if st.Step() {
		for i := range st.ColumnCount() {
			out = append(out, st.ColumnInt64(i))
		}
	}
	if err := st.Err(); err != nil {
		d.t.Fatalf("%s: %v", query, err)
	}
	if out == nil {
		d.t.Fatalf("%s: no row", query)
	}
	return out
}

// int runs a query of one integer.
func (d *sqlDB) int(query string, args ...any) int64 {
	d.t.Helper()
	return d.ints(query, args...)[0]
}

// figures counts the current postures a condition selects, by status.
func (d *sqlDB) figures(where string, args ...any) [3]int64 {
	d.t.Helper()
	v := d.ints(`SELECT coalesce(sum(status = 'Passed'), 0), coalesce(sum(status = 'Failed'), 0), coalesce(sum(status = 'Error'), 0)
		FROM postures WHERE stale_run IS NULL AND `+where, args...)
	return [3]int64{v[0], v[1], v[2]}
}

package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/app"
	"pcsync/internal/emulator"
	"pcsync/internal/server"
	"pcsync/internal/store/pgtest"
	"pcsync/internal/store/postgres"
	"pcsync/internal/store/sqlite"
)

// testEstate is small but has every kind of data: several policies, hosts
// with database instances, exceptions, frameworks, and changes between two
// runs.
func testEstate() emulator.Config {
	c := emulator.DefaultConfig()
	c.Policies, c.InactivePolicies, c.Hosts, c.HostsPerPolicy, c.ControlsPerPolicy = 3, 1, 40, 30, 14
	c.FlipPermille, c.ChurnPercent = 120, 10
	return c
}

// built is a database made by two syncs of the emulator (two hosts then
// lose their scan date, as Qualys may give none), shared by the
// package's tests (read-only): the first through the classic API (the
// catalogue, exceptions, remediation), then one scan cycle later an
// incremental one through the gateway (PCRS).
var built struct {
	once sync.Once
	path string
	emu  *emulator.Server
	url  string
	err  string
}

// testDB returns the shared database's path.
func testDB(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "pcsync-server-test-")
		if err != nil {
			built.err = err.Error()
			return
		}
		built.path = filepath.Join(dir, "pcsync.db")
		built.emu, built.url, built.err = syncTwice(built.path)
	})
	if built.err != "" {
		t.Fatal(built.err)
	}
	return built.path
}

// syncTwice builds a database at path as testDB describes.
func syncTwice(path string) (*emulator.Server, string, string) {
	est, err := emulator.NewEstate(testEstate())
	if err != nil {
		return nil, "", err.Error()
	}
	emu, err := emulator.New(emulator.Options{Estate: est, Password: "emulator", RateCalls: -1,
		Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	if err != nil {
		return nil, "", err.Error()
	}
	ts := httptest.NewServer(emu)
	creds := filepath.Join(filepath.Dir(path), "pcsync.yaml")
	os.WriteFile(creds, []byte("qualys:\n  username: pcsync\n  password: emulator\n"), 0o600)
	// classic (exceptions, remediation), then PCRS (host membership), then
	// one scan cycle later PCRS again (status changes, hosts that left)
	for i, extra := range [][]string{{"--source", "classic"}, nil, nil} {
		if i == 2 {
			emu.Advance(time.Now()) // dated now: after the last run began
		}
		args := append([]string{"sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", path, "--log-level", "error"}, extra...)
		var out, errOut bytes.Buffer
		if code := app.Main(context.Background(), args, app.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != 0 {
			return nil, "", fmt.Sprintf("sync %v: exit %d\n%s%s", extra, code, out.String(), errOut.String())
		}
	}
	// Qualys may give a host no scan date: two current hosts have none
	conn, err := sqlite3.Open(path)
	if err == nil {
		err = conn.Exec(`UPDATE hosts SET compliance_last_scan_date = NULL
			WHERE id IN (SELECT DISTINCT host_id FROM postures WHERE stale_run IS NULL ORDER BY host_id LIMIT 2)`)
		conn.Close()
	}
	if err != nil {
		return nil, "", err.Error()
	}
	return emu, ts.URL, ""
}

// newServer serves the database at path read-only on loopback.
func newServer(t *testing.T, path string, opts server.Options) *httptest.Server {
	t.Helper()
	rd, err := sqlite.OpenReader(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close() })
	opts.Reader = rd
	ts := httptest.NewServer(server.New(opts))
	t.Cleanup(ts.Close)
	return ts
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// getJSON fetches url, requires a 200, and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// sqlDB is an independent read-only connection for the tests' own SQL.
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
	// Tests in parallel open the shared database at once, and the first
	// connection to a WAL file rebuilds its index under a lock: without a
	// timeout the others were refused ("database is locked", once in CI).
	if err := conn.BusyTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return &sqlDB{t: t, conn: conn}
}

// rows runs sql with args and returns every row, each value an int64,
// string or nil.
func (d *sqlDB) rows(sql string, args ...any) [][]any {
	d.t.Helper()
	st, _, err := d.conn.Prepare(sql)
	if err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	defer st.Close()
	for i, a := range args {
		switch v := a.(type) {
		case int64:
			st.BindInt64(i+1, v)
		case int:
			st.BindInt64(i+1, int64(v))
		case string:
			st.BindText(i+1, v)
		}
	}
	var out [][]any
	for st.Step() {
		row := make([]any, st.ColumnCount())
		for c := range row {
			switch st.ColumnType(c) {
			case sqlite3.INTEGER:
				row[c] = st.ColumnInt64(c)
			case sqlite3.NULL:
				row[c] = nil
			default:
				row[c] = st.ColumnText(c)
			}
		}
		out = append(out, row)
	}
	if err := st.Err(); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// int is a query of one integer.
func (d *sqlDB) int(sql string, args ...any) int64 {
	d.t.Helper()
	r := d.rows(sql, args...)
	if len(r) != 1 || r[0][0] == nil {
		return 0
	}
	return r[0][0].(int64)
}

// TestMain removes the shared database once the package's tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		os.RemoveAll(filepath.Dir(built.path))
	}
	if pgBuilt.schema != "" {
		if conn, err := pgx.Connect(context.Background(), pgBuilt.base); err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgBuilt.schema+" CASCADE")
			conn.Close(context.Background())
		}
	}
	os.Exit(code)
}

// pgBuilt is the shared database copied into PostgreSQL by pcsync migrate,
// in a schema of its own dropped by TestMain.
var pgBuilt struct {
	once        sync.Once
	dsn, schema string
	base, err   string
}

// pgDB returns the DSN of the shared database copied into PostgreSQL
// (skipped without a server, except under CI=true).
func pgDB(t *testing.T) string {
	t.Helper()
	base := pgtest.URL(t)
	path := testDB(t)
	pgBuilt.once.Do(func() {
		pgBuilt.base, pgBuilt.schema = base, fmt.Sprintf("pcsync_server_test_%d", os.Getpid())
		pgtest.Exec(t, base, "CREATE SCHEMA "+pgBuilt.schema)
		pgBuilt.dsn = pgtest.WithSchema(t, base, pgBuilt.schema)
		var out bytes.Buffer
		if code := app.Main(context.Background(), []string{"migrate", "--from", path, "--to", pgBuilt.dsn},
			app.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}); code != 0 {
			pgBuilt.err = fmt.Sprintf("migrate to PostgreSQL: exit %d\n%s", code, out.String())
		}
	})
	if pgBuilt.err != "" {
		t.Fatal(pgBuilt.err)
	}
	return pgBuilt.dsn
}

// forEachServer runs fn against a server over the SQLite database at path
// and over the same data in PostgreSQL: every figure the tests check holds
// on both stores.
func forEachServer(t *testing.T, path string, fn func(t *testing.T, ts *httptest.Server)) {
	t.Helper()
	forEachServerWith(t, path, server.Options{}, fn)
}

// forEachServerWith is forEachServer with the servers' options.
func forEachServerWith(t *testing.T, path string, opts server.Options, fn func(t *testing.T, ts *httptest.Server)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, newServer(t, path, opts)) })
	t.Run("postgres", func(t *testing.T) {
		rd, err := postgres.OpenReader(t.Context(), pgDB(t), postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rd.Close() })
		opts.Reader = rd
		ts := httptest.NewServer(server.New(opts))
		t.Cleanup(ts.Close)
		fn(t, ts)
	})
}

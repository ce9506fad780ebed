// Package pgtest gives tests throwaway PostgreSQL databases: a schema of
// their own in the server named by PCSYNC_TEST_POSTGRES, dropped when the
// test ends. Without that variable the test is skipped, except under
// CI=true, where its absence fails the test (.ci/run starts a server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env names the variable that holds the test server's URL.
const Env = "PCSYNC_TEST_POSTGRES"

// URL returns the test server's URL, skipping the test (failing it under
// CI=true) when there is none.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL tests (.ci/run starts a server)", Env)
		}
		t.Skipf("%s is not set: set it to a postgres:// URL to run the PostgreSQL tests", Env)
	}
	return u
}

// New creates an empty schema for t and returns the URL of a pcsync
// database in it (search_path names the schema); it is dropped after t.
func New(t testing.TB) string {
	t.Helper()
	base := URL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "pcsync_test_" + hex.EncodeToString(b)
	execSQL(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { execSQL(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
	return WithSchema(t, base, schema)
}

// WithSchema is base with its search_path set to schema.
func WithSchema(t testing.TB, base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql on the database at dsn.
func Exec(t testing.TB, dsn, sql string) { t.Helper(); execSQL(t, dsn, sql) }

func execSQL(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Cluster is a PostgreSQL server of a test's own, which the test may stop
// and start (to kill it mid-sync): initdb in a temporary directory, as the
// user "nobody" when the test runs as root, on a free loopback port.
type Cluster struct {
	URL  string // of its database "postgres"
	bin  string
	dir  string
	port int
}

// NewCluster starts a cluster for t, stopped at its end. It needs
// PostgreSQL's server programs (Debian's postgresql package); without them
// the test is skipped, except under CI=true.
func NewCluster(t *testing.T) *Cluster {
	t.Helper()
	URL(t) // the PostgreSQL tests run at all
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PostgreSQL server programs (/usr/lib/postgresql/*/bin): .ci/run installs them")
		}
		t.Skip("no PostgreSQL server programs (apt-get install postgresql)")
	}
	sort.Strings(bins)
	dir, err := os.MkdirTemp("", "pcsync-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := &Cluster{bin: filepath.Dir(bins[len(bins)-1]), dir: dir, port: port,
		URL: fmt.Sprintf("postgres://pcsync@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "nobody", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	c.run(t, "initdb", "-D", dir+"/data", "-U", "pcsync", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
	c.Start(t)
	t.Cleanup(func() { c.Stop(t) })
	return c
}

// Start starts the server (again) and waits until it answers.
func (c *Cluster) Start(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dir+"/data", "-l", c.dir+"/log", "-w", "-o",
		fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s", c.port, c.dir), "start")
}

// Kill stops the server at once, as a crash would (immediate shutdown:
// no checkpoint, connections cut; the next start recovers from the WAL).
func (c *Cluster) Kill(t *testing.T) {
	t.Helper()
	c.run(t, "pg_ctl", "-D", c.dir+"/data", "-m", "immediate", "stop")
}

// Stop stops the server if it runs.
func (c *Cluster) Stop(t *testing.T) {
	args := []string{"-D", c.dir + "/data", "-m", "immediate", "stop"}
	cmd := c.command("pg_ctl", args...)
	_ = cmd.Run()
}

func (c *Cluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if os.Geteuid() != 0 {
		return exec.Command(path, args...)
	}
	quoted := "'" + path + "'"
	for _, a := range args {
		quoted += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return exec.Command("su", "-s", "/bin/sh", "nobody", "-c", quoted)
}

func (c *Cluster) run(t *testing.T, prog string, args ...string) {
	t.Helper()
	if out, err := c.command(prog, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", prog, err, out)
	}
}

// Package pgtest gives tests throwaway PostgreSQL databases: a schema of
// their own in the server named by PCSYNC_TEST_POSTGRES, dropped when the
// test ends. Without that variable the test is skipped, except under
// CI=true, where its absence fails the test (.ci/run starts a server).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
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
	exec(t, base, "CREATE SCHEMA "+schema)
	t.Cleanup(func() { exec(t, base, "DROP SCHEMA IF EXISTS "+schema+" CASCADE") })
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
func Exec(t testing.TB, dsn, sql string) { t.Helper(); exec(t, dsn, sql) }

func exec(t testing.TB, dsn, sql string) {
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

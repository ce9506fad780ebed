package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// The commands' tests run on both stores: a SQLite file, and a schema of
// the PostgreSQL server named by PCSYNC_TEST_POSTGRES (skipped without
// it, except under CI=true).

// forEachStore runs test once per store kind, as subtests named after it.
func forEachStore(t *testing.T, test func(t *testing.T, newDB func(name string) string)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		test(t, func(name string) string { return filepath.Join(dir, name+".db") })
	})
	t.Run("postgres", func(t *testing.T) {
		pgtest.URL(t)
		test(t, func(string) string { return pgtest.New(t) })
	})
}

// rows runs a query on the database dsn names and prints its rows, one a
// line, values tab-separated.
func rows(t *testing.T, dsn, query string) string {
	t.Helper()
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverPostgres {
		return pgRows(t, dsn, query)
	}
	conn, err := sqlite3.OpenFlags(dsn, sqlite3.OPEN_READONLY)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, _, err := conn.Prepare(query)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b strings.Builder
	for st.Step() {
		for i := range st.ColumnCount() {
			b.WriteString(st.ColumnText(i) + "\t")
		}
		b.WriteByte('\n')
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func pgRows(t *testing.T, dsn, query string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	var b strings.Builder
	for rs.Next() {
		vals, err := rs.Values()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if v == nil {
				v = ""
			}
			b.WriteString(fmt.Sprint(v) + "\t")
		}
		b.WriteByte('\n')
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// count runs a query of one integer, 0 when it fails (no database yet).
func count(dsn, query string) int64 {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverPostgres {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0
		}
		defer conn.Close(ctx)
		var n int64
		_ = conn.QueryRow(ctx, query).Scan(&n)
		return n
	}
	if _, err := os.Stat(dsn); err != nil {
		return 0
	}
	conn, err := sqlite3.OpenFlags(dsn, sqlite3.OPEN_READONLY)
	if err != nil {
		return 0
	}
	defer conn.Close()
	st, _, err := conn.Prepare(query)
	if err != nil {
		return 0
	}
	defer st.Close()
	if !st.Step() {
		return 0
	}
	return st.ColumnInt64(0)
}

package app

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// A PostgreSQL connection string in libpq's keyword=value form is not a
// SQLite path: no command prints its password back or makes a file named
// after it; they say to write it as a postgres:// URL. So is a postgres:
// URL without its two slashes.
func TestAKeywordValueConnectionStringIsNotAFileName(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"export", "--db", "host=127.0.0.1 user=pcsync password=Hunter2Secret dbname=compliance", "--table", "runs", "--format", "csv", "--out", "runs.csv"},
		{"serve", "--db", "dbname=compliance password = 'Hunter2Secret x'", "--listen", "127.0.0.1:0"},
		{"db", "init", "--db", "host=db.example password=Hunter2Secret"},
		// a URL missing its two slashes was a file named after the password
		{"db", "init", "--db", "postgresql:pcsync:Hunter2Secret@127.0.0.1"},
		{"export", "--db", "Postgres:pcsync:Hunter2Secret@nohost/db", "--table", "runs", "--format", "csv", "--out", "runs.csv"},
	} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		if code != ExitUsage || strings.Contains(out.String()+errOut.String(), "Hunter2Secret") ||
			!strings.Contains(errOut.String(), "postgres://") {
			t.Errorf("%s: exit %d\n%s%s\nwant %d, the password not shown, and the postgres:// form suggested", args[0], code, out.String(), errOut.String(), ExitUsage)
		}
		if entries, _ := os.ReadDir("."); len(entries) > 0 {
			t.Fatalf("%s made %s", args[0], entries[0].Name())
		}
	}
}

// SQLite URI parameters are refused, not dropped (file:a.db?mode=ro wrote
// a.db) and not taken into a file's name.
func TestSQLiteParametersAreRefused(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, db := range []string{"file:a.db?mode=ro", "sqlite:b.db?_pragma=busy_timeout(1)"} {
		code, _, errOut := run(t, "db", "init", "--db", db)
		if code != ExitUsage || !strings.Contains(errOut, "SQLite parameters (?") {
			t.Errorf("--db %s: exit %d %q; want 2 saying the parameters are not taken", db, code, errOut)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) > 0 {
		t.Fatalf("db init made %s", entries[0].Name())
	}
}

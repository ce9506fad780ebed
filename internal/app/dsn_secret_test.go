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
// after it; they say to write it as a postgres:// URL.
func TestAKeywordValueConnectionStringIsNotAFileName(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"export", "--db", "host=127.0.0.1 user=pcsync password=Hunter2Secret dbname=compliance", "--table", "runs", "--format", "csv", "--out", "runs.csv"},
		{"serve", "--db", "dbname=compliance password = 'Hunter2Secret x'", "--listen", "127.0.0.1:0"},
		{"db", "init", "--db", "host=db.example password=Hunter2Secret"},
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

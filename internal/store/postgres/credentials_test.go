package postgres

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// A password works from the URL, from PGPASSWORD and from a .pgpass file
// (PGPASSFILE), and no error ever shows it.
func TestPasswordSources(t *testing.T) {
	dsn := pgtest.New(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("the CI server must ask for a password, so that every way of giving one is tested")
		}
		t.Skip("the test server's URL has no password")
	}
	bare := *u
	bare.User = url.User(u.User.Username())
	open := func(what, dsn string) {
		t.Helper()
		st, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatalf("password from %s: %v", what, err)
		}
		st.Close()
	}
	t.Setenv("PGPASSFILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("PGPASSWORD", "")
	open("the URL", dsn)

	t.Setenv("PGPASSWORD", password)
	open("PGPASSWORD", bare.String())

	t.Setenv("PGPASSWORD", "")
	os.Unsetenv("PGPASSWORD")
	pass := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(pass, []byte(u.Hostname()+":"+u.Port()+":*:"+u.User.Username()+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PGPASSFILE", pass)
	open(".pgpass", bare.String())

	wrong := *u
	wrong.User = url.UserPassword(u.User.Username(), "not-"+password)
	_, err = Open(t.Context(), wrong.String(), Options{})
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if strings.Contains(err.Error(), "not-"+password) {
		t.Fatalf("the error shows the password: %v", err)
	}
	_, err = OpenReader(t.Context(), wrong.String(), Options{})
	if err == nil || strings.Contains(err.Error(), "not-"+password) {
		t.Fatalf("a reader with a wrong password: %v", err)
	}
}

// A reader refuses a database without pcsync's tables and creates nothing;
// a database that does not exist is a DSN error.
func TestReaderRefusesWhatPcsyncDidNotWrite(t *testing.T) {
	dsn := pgtest.New(t)
	pgtest.Exec(t, dsn, "CREATE TABLE other (x int)")
	_, err := OpenReader(t.Context(), dsn, Options{})
	var np *store.NotPcsyncError
	if !errors.As(err, &np) {
		t.Fatalf("a reader of another program's schema: %v, want *store.NotPcsyncError", err)
	}
	pgtest.Exec(t, dsn, "DROP TABLE other")
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := OpenReader(t.Context(), dsn, Options{}); err != nil {
		t.Fatalf("a reader of a pcsync schema: %v", err)
	}
	u, _ := url.Parse(dsn)
	u.Path = "/no_such_database_pcsync"
	var de *store.DSNError
	if _, err := Open(t.Context(), u.String(), Options{}); !errors.As(err, &de) {
		t.Fatalf("a database that does not exist: %v, want *store.DSNError", err)
	}
}

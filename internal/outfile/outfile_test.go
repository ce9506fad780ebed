package outfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestGuardRefusesTheDatabaseAndItsCompanionsAsFiles(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "victim.db")
	if err := os.WriteFile(db, []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(db, "link.db"))
	must(os.Symlink(db+"-wal", "wal-link"))   // to a companion that does not exist yet
	must(os.Symlink("sub", "sublink"))        // a directory link
	must(os.Link(db, "hard.db"))              // the same inode under another name
	must(os.Symlink("wal-link", "link-link")) // a link to a link
	g := ForSQLite("victim.db")
	for _, bad := range []string{"victim.db", db, "./sub/../victim.db", "link.db", "victim.db-wal", "victim.db-shm",
		"victim.db.lock", "wal-link", "link-link", "sublink/../victim.db", "hard.db", "victim.db-journal"} {
		var ce *ClashError
		if err := g.Check("--out", bad); !errors.As(err, &ce) {
			t.Errorf("%s: %v, want a *ClashError", bad, err)
		}
	}
	for _, ok := range []string{"out.csv", "sub/victim.db", "victim.db.rejects.ndjson", "victim.dbx", ""} {
		if err := g.Check("--out", ok); err != nil {
			t.Errorf("%s was refused: %v", ok, err)
		}
	}
}

func TestAnAbortedWriteLeavesThePreviousFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := os.WriteFile(path, []byte("previous\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half of a new")
	f.Abort()
	if b, _ := os.ReadFile(path); string(b) != "previous\n" {
		t.Fatalf("after an aborted write the file holds %q", b)
	}
	f, err = Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new\n")
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	f.Abort() // deferred after a commit: nothing
	b, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(b) != "new\n" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("after a commit the file holds %q with mode %v", b, fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

package sqlite

import (
	"slices"

	"github.com/ncruces/go-sqlite3"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
	"pcsync/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) string { return filepath.Join(t.TempDir(), "pcsync.db") },
		Open: func(t *testing.T, dsn string) (store.Writer, error) {
			return Open(t.Context(), dsn, Options{})
		},
		OpenReader: func(t *testing.T, dsn string) (store.ReadCloser, error) {
			return OpenReader(t.Context(), dsn, Options{})
		},
	})
}

func indexExists(t *testing.T, st *Store) bool {
	t.Helper()
	n, err := st.scalarInt("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'postures_natural'")
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestBulkLoadRebuildsTheIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pcsync.db")
	st, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.BeginLoad(t.Context()); err != nil {
		t.Fatal(err)
	}
	if indexExists(t, st) {
		t.Fatal("the index of an empty table was kept for a bulk load")
	}
	if err := st.Write(t.Context(), &store.Batch{RunID: 1, Postures: []compliance.Posture{storetest.Sample(1)}}); err != nil {
		t.Fatal(err)
	}
	st.Close() // killed before EndLoad: the index is missing

	st, err = Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.BeginLoad(t.Context()); err != nil || !st.bulk {
		t.Fatalf("a load after a cut-off bulk load is not bulk (err %v)", err)
	}
	if err := st.EndLoad(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !indexExists(t, st) {
		t.Fatal("EndLoad did not rebuild the index")
	}
	if err := st.BeginLoad(t.Context()); err != nil || st.bulk || !indexExists(t, st) {
		t.Fatalf("a load into a populated, indexed table dropped its index (err %v)", err)
	}
}

func TestOpenRefusesANewerSchemaAndBadPaths(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pcsync.db")
	st, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.conn.Exec("PRAGMA user_version=99"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := Open(t.Context(), path, Options{}); err == nil || !strings.Contains(err.Error(), "newer pcsync") {
		t.Fatalf("opening a schema-99 file: %v", err)
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), Options{}); err == nil {
		t.Fatal("a path in a missing directory was accepted")
	}
	notDB := filepath.Join(t.TempDir(), "text.db")
	os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 100)), 0o600)
	if _, err := Open(t.Context(), notDB, Options{}); err == nil {
		t.Fatal("a text file was opened as a database")
	}
}

// The registry lists every table of the schema with its columns, in the
// order the schema has them, so that export and migrate miss nothing.
func TestRegistryMatchesTheSchema(t *testing.T) {
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	schema := map[string][]string{}
	err = st.query(t.Context(), `SELECT m.name, c.name FROM sqlite_schema m JOIN pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid`, func(s *sqlite3.Stmt) error {
		schema[s.ColumnText(0)] = append(schema[s.ColumnText(0)], s.ColumnText(1))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range store.Tables {
		var names []string
		for _, c := range tab.Columns {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, schema[tab.Name]) {
			t.Errorf("table %s: registry columns %v, schema %v", tab.Name, names, schema[tab.Name])
		}
		delete(schema, tab.Name)
	}
	for name := range schema {
		t.Errorf("table %s is in the schema but not in store.Tables", name)
	}
}

// Every posture list seeks its index to the page's position and reads in
// index order: no sort, no scan of what came before, so that a page deep
// in a list costs what the first does.
func TestPosturePagesSeekTheirIndex(t *testing.T) {
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := &cursor{Ints: []int64{1, 2, 3, 4, 5}, Strs: []string{"os"}}
	for _, tc := range []struct {
		f     store.PostureFilter
		index string
	}{
		{store.PostureFilter{}, "postures_natural"},
		{store.PostureFilter{Policy: 7}, "postures_natural"},
		{store.PostureFilter{Policy: 7, Status: compliance.StatusFailed}, "postures_natural"},
		{store.PostureFilter{Host: 9}, "postures_host"},
		{store.PostureFilter{Host: 9, Policy: 7}, "postures_host"},
		{store.PostureFilter{Control: 3}, "postures_control"},
		{store.PostureFilter{Control: 3, Policy: 7}, "postures_control"},
	} {
		q, args := posturesQuery(tc.f, c)
		var plan []string
		err := st.query(t.Context(), "EXPLAIN QUERY PLAN "+q, func(s *sqlite3.Stmt) error {
			plan = append(plan, s.ColumnText(3))
			return nil
		}, append(args, 10)...)
		if err != nil {
			t.Fatal(err)
		}
		p := strings.Join(plan, "; ")
		if !strings.Contains(p, "USING INDEX "+tc.index+" (") || !strings.Contains(p, ">") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("filter %+v: plan %q; want a seek (>) on %s and no sort", tc.f, p, tc.index)
		}
	}
}

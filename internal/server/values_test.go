package server_test

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/store/sqlite"
)

// TestFailingValuesFromIndexOrDocuments: the control page's groups are
// read from the fail_value the sync keeps; a row without it (a value too
// long to keep, a row copied in by migrate) is grouped from its documents,
// and the two ways give the same groups. Half the failing postures of a
// copy of the test database lose their fail_value; every failing control's
// groups, over all policies and per policy, must not change.
func TestFailingValuesFromIndexOrDocuments(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	if kept := db.int(`SELECT count(*) FROM postures WHERE status = 'Failed' AND fail_value IS NOT NULL`); kept == 0 {
		t.Fatal("the sync kept no fail_value: the index path is not exercised")
	}
	if bad := db.int(`SELECT count(*) FROM postures WHERE status <> 'Failed' AND fail_value IS NOT NULL`); bad != 0 {
		t.Fatalf("%d postures that are not failing have a fail_value", bad)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := db.conn.Exec(`VACUUM INTO '` + cp + `'`); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite3.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Exec(`UPDATE postures SET fail_value = NULL WHERE id % 2 = 0`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, err := sqlite.OpenReader(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.OpenReader(t.Context(), cp, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pairs := db.rows(`SELECT DISTINCT control_id, policy_id FROM postures WHERE status = 'Failed' AND stale_run IS NULL ORDER BY 1, 2`)
	for _, pc := range pairs {
		for _, policy := range []int64{0, pc[1].(int64)} {
			control := pc[0].(int64)
			want, err := a.FailingValues(t.Context(), control, policy, 1000)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.FailingValues(t.Context(), control, policy, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("control %d, policy %d: from the index %+v; half from the documents %+v", control, policy, want, got)
			}
		}
	}
}

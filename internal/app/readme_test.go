package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

// readmeSQL returns the query the README shows for "failed controls of
// policy P with their statement, rationale and remediation".
func readmeSQL(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(data), "<!-- failed-controls-sql")
	if !ok {
		t.Fatal("README.md lost its failed-controls query")
	}
	_, after, _ = strings.Cut(after, "```sql\n")
	q, _, _ := strings.Cut(after, "```")
	return q
}

func TestReadmeQueryAnswersFailedControlsWithTheirCatalogue(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "pcsync.db")
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--api", e.url,
		"--ca-cert", e.certFile, "--db", db)
	if code != ExitOK {
		t.Fatalf("sync exited %d\n%s\n%s", code, out, errOut)
	}
	conn, err := sqlite3.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, _, err := conn.Prepare(readmeSQL(t))
	if err != nil {
		t.Fatalf("the README's query does not compile: %v", err)
	}
	defer st.Close()
	pol := e.estate.Policies()[0]
	if err := st.BindInt64(st.BindIndex(":policy"), pol.ID); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for st.Step() {
		rows++
		for col, name := range map[int]string{0: "dns or ip", 3: "statement", 5: "rationale", 6: "remediation", 7: "expected value"} {
			if st.ColumnText(col) == "" && !(col == 0 && st.ColumnText(1) != "") {
				t.Fatalf("row %d has no %s", rows, name)
			}
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if want := e.estate.Counts(pol.ID).Failed; int64(rows) != want {
		t.Fatalf("the query returned %d failed postures, the policy has %d", rows, want)
	}
	for _, table := range []string{"sections", "frameworks", "controls"} {
		code, out, errOut := run(t, "export", "--db", db, "--table", table, "--format", "json")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); code != ExitOK || err != nil || len(rows) == 0 {
			t.Fatalf("export %s: exit %d, %v, %d rows: %s", table, code, err, len(rows), errOut)
		}
	}
	// classic posture brings exceptions
	db2 := filepath.Join(t.TempDir(), "classic.db")
	if code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--api", e.url, "--ca-cert", e.certFile,
		"--db", db2); code != ExitOK || !strings.Contains(out, "skipped: host ids") {
		t.Fatalf("classic-only sync: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = run(t, "export", "--db", db2, "--table", "exceptions", "--format", "csv")
	if code != ExitOK || !strings.HasPrefix(out, "postureId,assignee,status,comments,") || strings.Count(out, "\n") < 2 {
		t.Fatalf("export exceptions: exit %d: %q", code, out)
	}
}

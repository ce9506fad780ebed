package sqlite

import (
	"fmt"
	"slices"

	"github.com/ncruces/go-sqlite3"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

func TestCounts(t *testing.T) {
	storetest.RunCounts(t, storetest.Harness{
		New: func(t *testing.T) string { return filepath.Join(t.TempDir(), "pcsync.db") },
		Open: func(t *testing.T, dsn string) (store.Writer, error) {
			return Open(t.Context(), dsn, Options{})
		},
	}, func(t *testing.T, st store.Writer, sql string) []string {
		t.Helper()
		var out []string
		err := st.(*Store).query(t.Context(), sql, func(row *sqlite3.Stmt) error {
			cols := make([]string, row.ColumnCount())
			for i := range cols {
				cols[i] = row.ColumnText(i)
			}
			out = append(out, strings.Join(cols, "\t"))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
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
	indexes := `SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`
	migrated := strings.Join(strings.Fields(queryText(t, st, indexes)), " ")
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
	if rebuilt := strings.Join(strings.Fields(queryText(t, st, indexes)), " "); rebuilt != migrated {
		t.Fatalf("the indexes EndLoad built are not the migrations':\n%s\nwant\n%s", rebuilt, migrated)
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
// order the schema has them, so that export and migrate miss nothing. A
// table kept in two (postures and their documents) is compared with the
// view that joins them, which export and migrate read.
func TestRegistryMatchesTheSchema(t *testing.T) {
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	schema := map[string][]string{}
	err = st.query(t.Context(), `SELECT m.name, c.name FROM sqlite_schema m JOIN pragma_table_info(m.name) c
		WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, c.cid`, func(s *sqlite3.Stmt) error {
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
		src := source(&tab)
		if !slices.Equal(names, slices.DeleteFunc(schema[src], func(c string) bool { return slices.Contains(privateColumns[tab.Name], c) })) {
			t.Errorf("table %s: registry columns %v, schema (%s) %v", tab.Name, names, src, schema[src])
		}
		delete(schema, tab.Name)
		delete(schema, src)
	}
	delete(schema, "posture_evidence") // the postures' documents, in postures_with_evidence
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
		// a host's postures: one range per policy of the host (a host has a
		// posture per control of its policies: a page reads at most those)
		{store.PostureFilter{Host: 9}, "postures_natural (policy_id=? AND host_id=?)"},
		{store.PostureFilter{Host: 9, Policy: 7}, "postures_natural"},
		{store.PostureFilter{Host: 9, Control: 3}, "postures_control (control_id=? AND policy_id=? AND host_id=?)"},
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
		seek := strings.Contains(tc.index, "(") || strings.Contains(p, ">") // equalities only, or a seek
		if !strings.Contains(p, "USING INDEX "+tc.index) || !seek || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("filter %+v: plan %q; want a seek (>) on %s and no sort", tc.f, p, tc.index)
		}
	}
}

// openFromSchema opens a database of the given schema version, set up by
// setup, with this store, which migrates it to the current schema.
func openFromSchema(t *testing.T, version int, setup string) *Store {
	t.Helper()
	st, err := Open(t.Context(), fileOfSchema(t, version, setup), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// fileOfSchema makes a database of the given schema version (the
// migrations up to it), runs setup in it, and returns its path.
func fileOfSchema(t *testing.T, version int, setup string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pcsync.db")
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := migrations.ReadDir("migrations")
	for i, f := range files[:version] {
		sql, err := migrations.ReadFile("migrations/" + f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Exec(string(sql) + fmt.Sprintf(";PRAGMA user_version=%d", i+1)); err != nil {
			t.Fatalf("%s: %v", f.Name(), err)
		}
	}
	if err := conn.Exec(setup); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	return path
}

// TestMigrationKeepsPosturesAndCountsThem: a schema 5 database gets its
// postures into the layout of schema 6, and its counts stay exact.
func TestMigrationKeepsPosturesAndCountsThem(t *testing.T) {
	st := openFromSchema(t, 5, `INSERT INTO postures (id, policy_id, host_id, control_id, technology_id, instance, status, first_run, last_run, stale_run)
		VALUES (9, 7, 10, 100, 45, 'os', 'Passed', 1, 1, NULL), (8, 7, 10, 101, 45, 'os', 'Failed', 1, 1, NULL),
		(7, 7, 11, 100, 45, 'os', 'Error', 1, 1, NULL), (6, 8, 10, 100, 45, 'os', 'Failed', 1, 1, 2)`)
	query := func(sql string) string { return queryText(t, st, sql) }
	if got := query(`SELECT policy_id, id, status, coalesce(stale_run, '') FROM postures ORDER BY 1, 2`); got != "7 7 Error \n7 8 Failed \n7 9 Passed \n8 6 Failed 2\n" {
		t.Fatalf("postures after the migration:\n%s", got)
	}
	if got := query(`SELECT policy_id, host_id, passed, failed, errors, stale FROM counts_host ORDER BY 1, 2`); got != "7 10 1 1 0 0\n7 11 0 0 1 0\n8 10 0 0 0 1\n" {
		t.Fatalf("counts_host after the migration:\n%s", got)
	}
	if got := query(`SELECT policy_id, control_id, technology_id, passed, failed, errors, stale FROM counts_control ORDER BY 1, 2, 3`); got != "7 100 45 1 0 1 0\n7 101 45 0 1 0 0\n8 100 45 0 0 0 1\n" {
		t.Fatalf("counts_control after the migration:\n%s", got)
	}
	if got := query(`SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'postures' ORDER BY 1)`); got != "postures_counts_delete postures_counts_replaced postures_evidence_delete postures_evidence_replaced postures_stale_history postures_status_history\n" {
		t.Fatalf("triggers after the migration: %s", got)
	}
}

// The control page's groups of failing values are read from
// postures_failing alone, not from the table's pages.
func TestFailingValuesReadOneIndex(t *testing.T) {
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var plan []string
	err = st.query(t.Context(), "EXPLAIN QUERY PLAN "+failingValuesSQL, func(s *sqlite3.Stmt) error {
		plan = append(plan, s.ColumnText(3))
		return nil
	}, 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(plan, "; "); p != "SEARCH postures USING COVERING INDEX postures_failing (control_id=?)" {
		t.Errorf("plan %q; want a covering search of postures_failing", p)
	}
}

// queryText runs sql on st and returns its rows, a line each, columns
// separated by spaces.
func queryText(t *testing.T, st *Store, sql string) string {
	t.Helper()
	var b strings.Builder
	err := st.query(t.Context(), sql, func(row *sqlite3.Stmt) error {
		writeRow(&b, row)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeRow writes the row's columns as text, space-separated, and a newline.
func writeRow(b *strings.Builder, row *sqlite3.Stmt) {
	for i := range row.ColumnCount() {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(row.ColumnText(i))
	}
	b.WriteString("\n")
}

// evidenceOrphans counts evidence no posture names, and postures that name
// missing evidence.
const evidenceOrphans = `SELECT
	(SELECT count(*) FROM posture_evidence ev WHERE NOT EXISTS
		(SELECT 1 FROM postures p WHERE p.policy_id = ev.policy_id AND p.evidence_seq = ev.seq)),
	(SELECT count(*) FROM postures p WHERE p.evidence_seq IS NOT NULL AND NOT EXISTS
		(SELECT 1 FROM posture_evidence ev WHERE ev.policy_id = p.policy_id AND ev.seq = p.evidence_seq))`

// A posture's evidence is kept once, in posture_evidence: a record that
// replaces a posture (in the same batch or a later run) leaves only its own
// evidence, one without evidence leaves none, and two writers of one
// database, taking turns, never number evidence alike.
func TestEvidenceKeptOncePerPosture(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pcsync.db")
	st, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b, again := storetest.Sample(1), storetest.Sample(2), storetest.Sample(1)
	again.Evidence = []byte(`{"currentValues":["second"]}`)
	none := storetest.Sample(3)
	none.Evidence, none.CauseOfFailure = nil, nil
	if err := st.Write(t.Context(), &store.Batch{RunID: 1, Postures: []compliance.Posture{a, b, again, none}}); err != nil {
		t.Fatal(err)
	}
	if got := queryText(t, st, `SELECT p.id, ev.evidence FROM postures p JOIN posture_evidence ev
		ON ev.policy_id = p.policy_id AND ev.seq = p.evidence_seq ORDER BY p.id`); got != "1 "+string(again.Evidence)+"\n2 "+string(b.Evidence)+"\n" {
		t.Fatalf("evidence after the first batch:\n%s", got)
	}
	if got := queryText(t, st, evidenceOrphans); got != "0 0\n" {
		t.Fatalf("orphans (documents, postures) after the first batch: %s", got)
	}

	// a second writer of the same file, then the first again
	other, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := storetest.Sample(4)
	if err := other.Write(t.Context(), &store.Batch{RunID: 1, Postures: []compliance.Posture{c}}); err != nil {
		t.Fatal(err)
	}
	other.Close()
	b.Evidence = nil
	a.Evidence = []byte(`{"currentValues":["third"]}`)
	if err := st.Write(t.Context(), &store.Batch{RunID: 2, Postures: []compliance.Posture{a, b, storetest.Sample(5)}}); err != nil {
		t.Fatalf("the first writer after the second: %v", err)
	}
	if got := queryText(t, st, `SELECT count(*), count(DISTINCT seq) FROM posture_evidence`); got != "3 3\n" {
		t.Fatalf("evidence (rows, distinct seqs) after the second run: %s", got)
	}
	if got := queryText(t, st, evidenceOrphans); got != "0 0\n" {
		t.Fatalf("orphans (documents, postures) after the second run: %s", got)
	}
	var got []string
	err = st.Postures(t.Context(), func(p *compliance.Posture) error {
		got = append(got, fmt.Sprintf("%d %s %s", p.ID, p.Evidence, p.CauseOfFailure))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1 " + string(a.Evidence) + " " + string(a.CauseOfFailure), "2  " + string(b.CauseOfFailure), "3  ",
		"4 " + string(c.Evidence) + " " + string(c.CauseOfFailure), "5 " + string(c.Evidence) + " " + string(c.CauseOfFailure)}
	if !slices.Equal(got, want) {
		t.Fatalf("postures read back:\n%q\nwant\n%q", got, want)
	}
}

// TestMigrationMovesEvidence: a schema 8 database gets its postures'
// evidence into posture_evidence, byte for byte (the cause of failure
// stays in the row), and a later sync replaces it there.
func TestMigrationMovesEvidence(t *testing.T) {
	st := openFromSchema(t, 8, `INSERT INTO postures (id, policy_id, host_id, control_id, technology_id, instance, status,
		evidence, cause_of_failure, extra, first_run, last_run)
		VALUES (9, 7, 10, 100, 45, 'os', 'Failed', '{"v":["é \"q\""]}', '{"missing":["x"]}', '{"k":1}', 1, 1),
		(8, 7, 10, 101, 45, 'os', 'Passed', '{"v":[]}', NULL, NULL, 1, 1),
		(7, 7, 11, 100, 45, 'os', 'Error', NULL, NULL, NULL, 1, 1),
		(6, 7, 12, 100, 45, 'os', 'Failed', NULL, '{"missing":["y"]}', NULL, 1, 1)`)
	want := "7 6 NULL NULL {\"missing\":[\"y\"]} NULL\n7 7 NULL NULL NULL NULL\n7 8 8 {\"v\":[]} NULL NULL\n7 9 9 {\"v\":[\"é \\\"q\\\"\"]} {\"missing\":[\"x\"]} {\"k\":1}\n"
	query := `SELECT v.policy_id, v.id, coalesce(p.evidence_seq, 'NULL'), coalesce(v.evidence, 'NULL'),
		coalesce(v.cause_of_failure, 'NULL'), coalesce(v.extra, 'NULL')
		FROM postures_with_evidence v JOIN postures p ON p.policy_id = v.policy_id AND p.id = v.id ORDER BY 1, 2`
	if got := queryText(t, st, query); got != want {
		t.Fatalf("postures after the migration:\n%s\nwant\n%s", got, want)
	}
	p := storetest.Sample(9)
	p.PolicyID = 7
	if err := st.Write(t.Context(), &store.Batch{RunID: 2, Postures: []compliance.Posture{p}}); err != nil {
		t.Fatal(err)
	}
	if got := queryText(t, st, `SELECT policy_id, seq, evidence FROM posture_evidence ORDER BY 1, 2`); got != "7 8 {\"v\":[]}\n7 10 "+string(p.Evidence)+"\n" {
		t.Fatalf("evidence after a sync replaced posture 9's:\n%s", got)
	}
}

// The WAL stays near walRestart during a long load: the checkpointer
// catches up between two transactions, so the log starts over instead of
// growing as large as what was written. Here about 80 MB of evidence go
// in back-to-back 2.5 MB transactions against a restart at 2 MB, with the
// checkpointer looking every 5 ms: the log grew to 142 MB without the
// catch-up, and peaked at 8-14 MB with it (10-50 MB with both cores busy
// and another process syncing 200 MB files). The checkpointer looked every
// 100 ms here once, which let 19 MB be written before its first look and
// put the peak within a few MB of the limit: CI failed on it.
func TestWALStartsOverDuringALoad(t *testing.T) {
	oldLimit, oldRestart, oldEvery := walLimit, walRestart, checkpointEvery
	walLimit, walRestart, checkpointEvery = 256<<10, 2<<20, 5*time.Millisecond
	t.Cleanup(func() { walLimit, walRestart, checkpointEvery = oldLimit, oldRestart, oldEvery })
	path := filepath.Join(t.TempDir(), "pcsync.db")
	st, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > peak.Load() {
				peak.Store(fi.Size())
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	evidence := []byte(`{"currentValues":["` + strings.Repeat("x", 2000) + `"]}`)
	for b := range 40 {
		ps := make([]compliance.Posture, 1000)
		for i := range ps {
			ps[i] = storetest.Sample(int64(b*1000 + i + 1))
			ps[i].Evidence = evidence
		}
		if err := st.Write(t.Context(), &store.Batch{RunID: 1, Postures: ps}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	<-sampled
	if p := peak.Load(); p > 64<<20 {
		t.Fatalf("the WAL grew to %d MB while about 80 MB were written; want it to start over near 2 MB", p>>20)
	}
}

// Rows loaded through postures_with_evidence (pcsync migrate into SQLite)
// keep their own evidence, numbered after what a sync stored in the
// policy, and a posture already stored keeps its own, however many times
// the rows are loaded.
func TestLoadThroughTheViewKeepsEachPosturesEvidence(t *testing.T) {
	var tab *store.Table
	for i := range store.Tables {
		if store.Tables[i].Name == "postures" {
			tab = &store.Tables[i]
		}
	}
	var rows [][]any
	for i := range int64(4) {
		p := storetest.Sample(i + 1)
		var ev any = fmt.Sprintf(`{"src":%d}`, i+1)
		if i == 2 {
			ev = nil
		}
		rows = append(rows, []any{p.PolicyID, p.ID, p.Host.ID, p.ControlID, p.TechnologyID, p.Instance, "Failed", nil,
			nil, nil, nil, nil, nil, nil, nil, "SERIOUS", int64(3), ev, nil, nil, int64(1), int64(1), nil})
	}
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	synced, other := storetest.Sample(1), storetest.Sample(100) // posture 1 is stored already
	synced.Evidence, other.Evidence = []byte(`{"sync":1}`), []byte(`{"sync":100}`)
	if err := st.Write(t.Context(), &store.Batch{RunID: 1, Postures: []compliance.Posture{synced, other}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := st.LoadRows(t.Context(), tab, rows); err != nil {
			t.Fatal(err)
		}
	}
	want := "1 {\"sync\":1}\n2 {\"src\":2}\n3 NULL\n4 {\"src\":4}\n100 {\"sync\":100}\n"
	if got := queryText(t, st, `SELECT id, coalesce(evidence, 'NULL') FROM postures_with_evidence ORDER BY id`); got != want {
		t.Fatalf("postures after loading twice through the view:\n%s\nwant\n%s", got, want)
	}
	if got := queryText(t, st, evidenceOrphans+`, (SELECT count(*) - count(DISTINCT seq) FROM posture_evidence)`); got != "0 0 0\n" {
		t.Fatalf("orphans (evidence, postures) and seqs used twice: %s", got)
	}
}

// TestMigrationKeepsEveryColumnInArrivalOrder: schema 10 stores postures
// by rowid in the order they arrive, with (policy_id, id) a unique key.
// Every column of every posture is kept through the upgrade, the triggers
// and the view come back, a posture written again keeps its place, and a
// new one is appended after the others.
func TestMigrationKeepsEveryColumnInArrivalOrder(t *testing.T) {
	path := fileOfSchema(t, 9, `INSERT INTO posture_evidence (policy_id, seq, evidence) VALUES (7, 1, '{"v":["é"]}');
		INSERT INTO postures (id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
			first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
			created, criticality_label, criticality_value, cause_of_failure, extra, first_run, last_run, stale_run,
			fail_value, evidence_seq)
		VALUES (9, 7, 10, 100, 45, 'os', 'Failed', 'Passed', '2026-01-02T03:04:05Z', '2026-01-03T03:04:05Z', NULL,
			'2025-12-01T00:00:00Z', '2026-01-03T03:04:05Z', '2026-01-04T00:00:00Z', '2025-01-01T00:00:00Z', 'SERIOUS', 4,
			'{"missing":["x"]}', '{"k":1}', 1, 2, NULL, '"no"', 1),
		(3, 7, 11, 100, 45, '/etc', 'Passed', NULL, NULL, NULL, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', NULL,
			NULL, NULL, NULL, NULL, NULL, NULL, 1, 1, 2, NULL, NULL),
		(5, 6, 10, 101, 46, 'os', 'Error', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'LOW', 1, NULL, NULL, 2, 2,
			NULL, NULL, NULL)`)
	all := `SELECT quote(policy_id), quote(id), quote(host_id), quote(control_id), quote(technology_id), quote(instance),
		quote(status), quote(previous_status), quote(first_fail_date), quote(last_fail_date), quote(first_pass_date),
		quote(last_pass_date), quote(posture_modified_date), quote(last_evaluated_date), quote(created),
		quote(criticality_label), quote(criticality_value), quote(cause_of_failure), quote(extra), quote(first_run),
		quote(last_run), quote(stale_run), quote(fail_value), quote(evidence_seq) FROM postures ORDER BY policy_id, id`
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var before strings.Builder
	st0, _, err := conn.Prepare(all)
	if err != nil {
		t.Fatal(err)
	}
	for st0.Step() {
		writeRow(&before, st0)
	}
	st0.Close()
	conn.Close()
	if strings.Count(before.String(), "\n") != 3 {
		t.Fatalf("schema 9 rows:\n%s", before.String())
	}

	st, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	query := func(sql string) string { return queryText(t, st, sql) }
	if got := query(all); got != before.String() {
		t.Fatalf("postures after the upgrade:\n%s\nbefore:\n%s", got, before.String())
	}
	if got := query(`SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE tbl_name IN ('postures', 'postures_with_evidence') AND type IN ('trigger', 'view') ORDER BY 1)`); got != "postures_counts_delete postures_counts_replaced postures_evidence_delete postures_evidence_replaced postures_stale_history postures_status_history postures_with_evidence postures_with_evidence_insert\n" {
		t.Fatalf("triggers and views after the upgrade: %s", got)
	}
	if got := query(`SELECT evidence FROM postures_with_evidence WHERE policy_id = 7 AND id = 9`); got != "{\"v\":[\"é\"]}\n" {
		t.Fatalf("evidence through the view: %q", got)
	}
	if err := st.conn.Exec(`INSERT INTO postures (policy_id, id, host_id, control_id, technology_id, instance, status, first_run, last_run)
		VALUES (7, 9, 1, 1, 1, 'x', 'Passed', 3, 3)`); err == nil || !strings.Contains(err.Error(), "UNIQUE") {
		t.Fatalf("a second posture 9 of policy 7: %v, want a UNIQUE error", err)
	}
	rowids := query(`SELECT rowid FROM postures ORDER BY policy_id, id`)
	again, fresh := storetest.Sample(9), storetest.Sample(1)
	again.PolicyID, fresh.PolicyID = 7, 6
	if err := st.Write(t.Context(), &store.Batch{RunID: 3, Postures: []compliance.Posture{again, fresh}}); err != nil {
		t.Fatal(err)
	}
	if got := query(`SELECT policy_id, id, rowid FROM postures ORDER BY rowid`); got != "6 5 "+strings.Fields(rowids)[0]+"\n7 3 "+strings.Fields(rowids)[1]+"\n7 9 "+strings.Fields(rowids)[2]+"\n6 1 4\n" {
		t.Fatalf("postures by rowid after a sync wrote posture 9 again and posture 1 of policy 6 anew:\n%s(rowids before: %s)", got, rowids)
	}
}

// A reader answers from the file at its path: one put in the place of the
// file it opened (a restored copy, a new sync into a new file) is read from
// the next query on, not only by the connections opened after it, and a
// file removed is an error until one is there again.
func TestAReaderFollowsTheFileAtItsPath(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, postures int) string {
		path := filepath.Join(dir, name)
		st, err := Open(t.Context(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		ps := make([]compliance.Posture, postures)
		for i := range ps {
			ps[i] = storetest.Sample(int64(i + 1))
		}
		if err := st.Write(t.Context(), &store.Batch{RunID: 1, Postures: ps}); err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path, other, first := write("pcsync.db", 3), write("other.db", 5), filepath.Join(dir, "first.db")
	rd, err := OpenReader(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	postures := func() (int64, error) {
		sum, _, err := rd.Overview(t.Context())
		if err != nil {
			return 0, err
		}
		return sum.Total(), nil
	}
	var wg sync.WaitGroup
	for range 4 { // several connections in the pool
		wg.Go(func() {
			if n, err := postures(); n != 3 || err != nil {
				t.Errorf("before: %d postures, %v; want 3", n, err)
			}
		})
	}
	wg.Wait()
	if err := os.Link(path, first); err != nil { // keep it, to put it back
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	for range 5 { // every pooled connection, not the first one only
		if n, err := postures(); n != 5 || err != nil {
			t.Fatalf("after the file was replaced: %d postures, %v; want the new file's 5", n, err)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if n, err := postures(); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Fatalf("after the file was removed: %d postures, %v; want an error saying it is gone", n, err)
	}
	if err := os.Rename(first, path); err != nil {
		t.Fatal(err)
	}
	if n, err := postures(); n != 3 || err != nil {
		t.Fatalf("with the first file back: %d postures, %v; want 3", n, err)
	}
}

// Processes that open a new database at once (two syncs, or db init beside
// a sync) apply each migration once: none fails on a table the other
// already created. Each Open here is a connection of its own, locking the
// file as another process would.
func TestOpeningANewFileAtOnceMigratesItOnce(t *testing.T) {
	for round := range 5 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("new%d.db", round))
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				st, err := Open(t.Context(), path, Options{})
				if err == nil {
					err = st.Close()
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, open %d: %v", round, i, err)
			}
		}
	}
}

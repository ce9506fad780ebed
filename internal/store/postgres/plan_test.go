package postgres

import (
	"strings"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
	"pcsync/internal/store/storetest"
)

// Every posture list seeks its index to the page's position, the id
// included, and reads in index order: no sort and no scan of what came
// before, so that a page deep in a list costs what the first does (see
// explain for how the plans are made).
func TestPosturePagesSeekTheirIndex(t *testing.T) {
	st, err := Open(t.Context(), pgtest.New(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		f     store.PostureFilter
		index string
	}{
		{store.PostureFilter{}, "postures_natural"},
		{store.PostureFilter{Policy: 7}, "postures_natural"},
		{store.PostureFilter{Policy: 7, Status: compliance.StatusFailed}, "postures_natural"},
		{store.PostureFilter{Host: 9, Policy: 7}, "postures_natural"}, // a host's postures, policy by policy
		{store.PostureFilter{Host: 9, Policy: 7, Status: compliance.StatusFailed}, "postures_natural"},
		{store.PostureFilter{Host: 9, Policy: 7, Control: 3}, "postures_control"},
		{store.PostureFilter{Control: 3}, "postures_control"},
		{store.PostureFilter{Control: 3, Policy: 7}, "postures_control"},
	} {
		q, args := posturesQuery(tc.f, []int64{1, 2, 3, 4, 5}, []string{"os"}, true, 101)
		plan := explain(t, st, q, args...)
		p := strings.Join(plan, "\n")
		seek := false
		for i, line := range plan {
			if strings.Contains(line, "Index Scan using "+tc.index+" on postures") && i+1 < len(plan) {
				seek = strings.HasPrefix(plan[i+1], "Index Cond:") && strings.Contains(plan[i+1], "ROW(")
			}
		}
		if !seek || strings.Contains(p, "Sort") {
			t.Errorf("filter %+v: plan\n%s\nwant a seek (ROW(...) > ...) on %s and no sort", tc.f, p, tc.index)
		}
	}
}

// The control page's groups by value read the partial index of failing
// postures alone (an index-only scan), not the postures' rows.
func TestFailingValuesReadTheirIndex(t *testing.T) {
	st, err := Open(t.Context(), pgtest.New(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, policy := range []int64{0, 7} {
		plan := strings.Join(explain(t, st, failingValuesSQL, int64(3), policy), "\n")
		if !strings.Contains(plan, "Index Only Scan using postures_failing on postures") {
			t.Errorf("policy %d: plan\n%s\nwant an index-only scan of postures_failing", policy, plan)
		}
	}
}

// explain returns the plan of q, with scans, bitmap scans and sorts
// switched off: the test's tables are tiny, where a scan and a sort are
// cheapest, and the plan should show what the indexes can do (a sort that
// an index cannot spare still shows).
func explain(t *testing.T, st *Store, q string, args ...any) []string {
	t.Helper()
	tx, err := st.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(t.Context(), "EXPLAIN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, strings.TrimSpace(line))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestFirstLoadLeavesTheTableVisible: a first load ends with every page of
// the postures marked all-visible (it vacuums, after a synchronous commit:
// the load's commits are asynchronous), so that the server's index-only
// scans (the control page's failing values) do not fetch each row from
// the table until autovacuum comes by. Without the VACUUM, or with it
// right after the asynchronous commits, no page is.
func TestFirstLoadLeavesTheTableVisible(t *testing.T) {
	ctx := t.Context()
	st, err := Open(ctx, pgtest.New(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.BeginLoad(ctx); err != nil {
		t.Fatal(err)
	}
	ps := make([]compliance.Posture, 3000)
	for i := range ps {
		ps[i] = storetest.Sample(int64(i + 1))
		ps[i].Host.ID, ps[i].ControlID = int64(i/30+1), int64(i%30+1)
	}
	if err := st.Write(ctx, &store.Batch{RunID: 1, Postures: ps}); err != nil {
		t.Fatal(err)
	}
	if err := st.EndLoad(ctx); err != nil {
		t.Fatal(err)
	}
	var pages, visible int64
	if err := st.pool.QueryRow(ctx, `SELECT relpages, relallvisible FROM pg_class
		WHERE oid = 'postures'::regclass`).Scan(&pages, &visible); err != nil {
		t.Fatal(err)
	}
	if pages == 0 || visible != pages {
		t.Errorf("after a first load %d of the postures' %d pages are all-visible, want all", visible, pages)
	}
}

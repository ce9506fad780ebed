package postgres

import (
	"strings"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// Every posture list seeks its index to the page's position, the id
// included, and reads in index order: no sort and no scan of what came
// before, so that a page deep in a list costs what the first does. (The
// test's tables are tiny, where a scan and a sort are cheapest: scans and
// sorts are switched off, so that the plan shows what the index can do; a
// sort that the index cannot spare still shows.)
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
		{store.PostureFilter{Host: 9}, "postures_host"},
		{store.PostureFilter{Control: 3}, "postures_control"},
		{store.PostureFilter{Control: 3, Policy: 7}, "postures_control"},
	} {
		q, args := posturesQuery(tc.f, []int64{1, 2, 3, 4, 5}, []string{"os"}, true, 101)
		tx, err := st.pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		if _, err := tx.Exec(t.Context(), "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_sort = off"); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(t.Context(), "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, strings.TrimSpace(line))
		}
		rows.Close()
		tx.Rollback(t.Context())
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

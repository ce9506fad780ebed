package server_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"pcsync/internal/server"
)

// figures are the expected counts of current postures, by the test's SQL.
type figures struct{ passed, failed, errors int64 }

func (d *sqlDB) figures(where string, args ...any) figures {
	d.t.Helper()
	r := d.rows(`SELECT coalesce(sum(status = 'Passed'), 0), coalesce(sum(status = 'Failed'), 0), coalesce(sum(status = 'Error'), 0)
		FROM postures p WHERE p.stale_run IS NULL AND `+where, args...)
	return figures{r[0][0].(int64), r[0][1].(int64), r[0][2].(int64)}
}

// pct is compliance_pct as the contract defines it.
func (f figures) pct() any {
	total := f.passed + f.failed + f.errors
	if total == 0 {
		return nil
	}
	return math.Round(10000*float64(f.passed)/float64(total)) / 100
}

// checkFigures compares an API object's passed, failed, error and
// compliance_pct with f.
func checkFigures(t *testing.T, what string, obj map[string]any, f figures) {
	t.Helper()
	got := figures{num(obj["passed"]), num(obj["failed"]), num(obj["error"])}
	if got != f {
		t.Errorf("%s: passed/failed/error %v, SQL says %v", what, got, f)
	}
	var pct any
	if n, ok := obj["compliance_pct"].(json.Number); ok {
		v, _ := n.Float64()
		pct = v
	}
	if pct != f.pct() {
		t.Errorf("%s: compliance_pct %v, want %v", what, obj["compliance_pct"], f.pct())
	}
}

func num(v any) int64 {
	n, _ := v.(json.Number).Int64()
	return n
}

type listPage struct {
	Items []map[string]any `json:"items"`
	Next  *string          `json:"next"`
}

// walk reads every page of a list, limit rows at a time.
func walk(t *testing.T, url string, limit int) []map[string]any {
	t.Helper()
	var all []map[string]any
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	next := ""
	for pages := 0; ; pages++ {
		u := fmt.Sprintf("%s%slimit=%d", url, sep, limit)
		if next != "" {
			u += "&cursor=" + next
		}
		var p listPage
		getJSON(t, u, &p)
		if len(p.Items) > limit {
			t.Fatalf("%s: %d items on a page of %d", u, len(p.Items), limit)
		}
		all = append(all, p.Items...)
		if p.Next == nil {
			return all
		}
		if pages > 100000 {
			t.Fatal("no end to the list")
		}
		next = *p.Next
	}
}

func TestSummaryMatchesSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		var sum map[string]any
		getJSON(t, ts.URL+"/api/v1/summary", &sum)
		checkFigures(t, "summary", sum, db.figures("1"))
		for key, sql := range map[string]string{
			"policies":       `SELECT count(DISTINCT policy_id) FROM postures WHERE stale_run IS NULL`,
			"hosts":          `SELECT count(DISTINCT host_id) FROM postures WHERE stale_run IS NULL`,
			"controls":       `SELECT count(DISTINCT control_id) FROM postures WHERE stale_run IS NULL`,
			"stale_postures": `SELECT count(*) FROM postures WHERE stale_run IS NOT NULL`,
		} {
			if got, want := num(sum[key]), db.int(sql); got != want {
				t.Errorf("summary %s = %d, SQL says %d", key, got, want)
			}
		}
		last := db.rows(`SELECT id, status, finished_at FROM runs ORDER BY id DESC LIMIT 1`)[0]
		lr := sum["last_run"].(map[string]any)
		if num(lr["id"]) != last[0] || lr["status"] != last[1] || !strings.HasPrefix(last[2].(string), lr["finished_at"].(string)[:19]) {
			t.Errorf("last_run %v, SQL says %v", lr, last)
		}
		if num(sum["stale_postures"]) == 0 || num(sum["failed"]) == 0 || num(sum["error"]) == 0 {
			t.Errorf("the test database lacks stale, failed or error postures: %v", sum)
		}
	})
}

func TestPoliciesMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		items := walk(t, ts.URL+"/api/v1/policies", 2)
		ids := db.rows(`SELECT id, title, status FROM policies ORDER BY id`)
		if len(items) != len(ids) {
			t.Fatalf("%d policies listed, %d in the database", len(items), len(ids))
		}
		for i, p := range items {
			id := ids[i][0].(int64)
			if num(p["id"]) != id || p["title"] != ids[i][1] || p["status"] != ids[i][2] {
				t.Errorf("policy %d: %v, SQL says %v", i, p, ids[i])
			}
			checkFigures(t, fmt.Sprint("policy ", id), p, db.figures("policy_id = ?", id))
			if hosts := db.int(`SELECT count(DISTINCT host_id) FROM postures WHERE stale_run IS NULL AND policy_id = ?`, id); num(p["hosts"]) != hosts {
				t.Errorf("policy %d: %d hosts, SQL says %d", id, num(p["hosts"]), hosts)
			}
		}
		// one policy in full: its sections, technologies and frameworks
		id := ids[0][0].(int64)
		var v map[string]any
		getJSON(t, fmt.Sprintf("%s/api/v1/policies/%d", ts.URL, id), &v)
		checkFigures(t, "policy detail", v, db.figures("policy_id = ?", id))
		secs := v["sections"].([]any)
		want := db.rows(`SELECT number, heading FROM sections WHERE policy_id = ? ORDER BY number`, id)
		if len(secs) != len(want) || len(secs) == 0 {
			t.Fatalf("%d sections, SQL says %d", len(secs), len(want))
		}
		for i, s := range secs {
			sec := s.(map[string]any)
			n := want[i][0].(int64)
			checkFigures(t, fmt.Sprint("section ", n), sec, db.figures(`policy_id = ? AND control_id IN
				(SELECT control_id FROM policy_controls WHERE policy_id = ? AND section_number = ?)`, id, id, n))
			if c := db.int(`SELECT count(DISTINCT control_id) FROM policy_controls WHERE policy_id = ? AND section_number = ?`, id, n); num(sec["controls"]) != c {
				t.Errorf("section %d: %d controls, SQL says %d", n, num(sec["controls"]), c)
			}
		}
		for _, x := range v["technologies"].([]any) {
			tech := x.(map[string]any)
			checkFigures(t, fmt.Sprint("technology ", tech["id"]), tech, db.figures("policy_id = ? AND technology_id = ?", id, num(tech["id"])))
		}
		fws := v["frameworks"].([]any)
		if len(fws) == 0 {
			t.Fatal("the policy has no frameworks")
		}
		for _, x := range fws {
			fw := x.(map[string]any)
			checkFigures(t, fmt.Sprint("framework ", fw["id"]), fw, db.figures(`policy_id = ? AND control_id IN
				(SELECT control_id FROM control_frameworks WHERE framework_id = ?)`, id, num(fw["id"])))
			// the framework's controls in this policy, not in all policies
			if c := db.int(`SELECT count(DISTINCT control_id) FROM control_frameworks WHERE framework_id = ? AND control_id IN
				(SELECT control_id FROM policy_controls WHERE policy_id = ? UNION SELECT control_id FROM postures WHERE policy_id = ?)`,
				num(fw["id"]), id, id); num(fw["controls"]) != c {
				t.Errorf("framework %v in policy %d: %d controls, SQL says %d", fw["id"], id, num(fw["controls"]), c)
			}
		}
	})
}

func TestPolicyControlsMatchSQLWorstFirst(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		id := db.int(`SELECT min(id) FROM policies WHERE status = 'active'`)
		tech := db.int(`SELECT technology_id FROM postures WHERE policy_id = ? GROUP BY technology_id ORDER BY count(*) DESC LIMIT 1`, id)
		for _, tc := range []struct {
			query, where string
			args         []any
		}{
			{"", "1", nil},
			{"status=Failed", "1", nil},
			{"status=error", "1", nil},
			{fmt.Sprint("technology=", tech), "technology_id = ?", []any{tech}},
			{"criticality=SERIOUS", "control_id IN (SELECT id FROM controls WHERE criticality_value = 3)", nil},
			{"criticality=3&section=1", `control_id IN (SELECT id FROM controls WHERE criticality_value = 3)`, nil},
		} {
			t.Run(tc.query, func(t *testing.T) {
				items := walk(t, fmt.Sprintf("%s/api/v1/policies/%d/controls?%s", ts.URL, id, tc.query), 4)
				if len(items) == 0 {
					t.Fatal("no controls")
				}
				var prev []int64
				for _, c := range items {
					cid := num(c["control_id"])
					f := db.figures("policy_id = ? AND control_id = ? AND "+tc.where, append([]any{id, cid}, tc.args...)...)
					checkFigures(t, fmt.Sprint("control ", cid), c, f)
					key := []int64{-f.failed, -f.errors, cid}
					if prev != nil && slices.Compare(prev, key) >= 0 {
						t.Fatalf("control %d after %v: not worst first", cid, prev)
					}
					prev = key
					switch {
					case strings.Contains(tc.query, "status=Failed") && f.failed == 0,
						strings.Contains(tc.query, "status=error") && f.errors == 0:
						t.Errorf("control %d does not have the status asked for: %v", cid, f)
					case strings.Contains(tc.query, "section=1") && num(c["section"]) != 1:
						t.Errorf("control %d is in section %v", cid, c["section"])
					}
				}
				if strings.Contains(tc.query, "status=Failed") {
					want := db.int(`SELECT count(DISTINCT control_id) FROM postures WHERE stale_run IS NULL AND policy_id = ? AND status = 'Failed'`, id)
					if int64(len(items)) != want {
						t.Errorf("%d controls with failures, SQL says %d", len(items), want)
					}
				}
			})
		}
	})
}

func TestControlMatchesSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		cid := db.int(`SELECT control_id FROM postures WHERE stale_run IS NULL GROUP BY control_id ORDER BY count(DISTINCT policy_id) DESC, control_id LIMIT 1`)
		var v map[string]any
		getJSON(t, fmt.Sprintf("%s/api/v1/controls/%d", ts.URL, cid), &v)
		checkFigures(t, "control", v, db.figures("control_id = ?", cid))
		if v["statement"] != db.rows(`SELECT statement FROM controls WHERE id = ?`, cid)[0][0] || v["statement"] == "" {
			t.Errorf("statement %q", v["statement"])
		}
		pols := v["policies"].([]any)
		if want := db.int(`SELECT count(DISTINCT policy_id) FROM postures WHERE control_id = ?`, cid); int64(len(pols)) != want {
			t.Errorf("%d policies, SQL says %d", len(pols), want)
		}
		for _, x := range pols {
			p := x.(map[string]any)
			checkFigures(t, fmt.Sprint("policy ", p["policy_id"]), p, db.figures("control_id = ? AND policy_id = ?", cid, num(p["policy_id"])))
		}
		techs := v["technologies"].([]any)
		if len(techs) == 0 || techs[0].(map[string]any)["remediation"] == "" || techs[0].(map[string]any)["rationale"] == "" {
			t.Errorf("technologies without rationale or remediation: %v", techs)
		}
		if len(v["frameworks"].([]any)) == 0 {
			t.Error("no framework references")
		}
	})
}

func TestHostsMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		policy := db.int(`SELECT min(id) FROM policies WHERE status = 'active'`)
		for _, tc := range []struct {
			query, where string
			args         []any
		}{
			{"", "1", nil},
			{fmt.Sprint("policy=", policy), "policy_id = ?", []any{policy}},
			{fmt.Sprint("policy=", policy, "&status=Error"), "policy_id = ?", []any{policy}},
			{"q=app", "1", nil},
			{"status=Failed", "1", nil},
			{"status=Error&q=app", "1", nil},
		} {
			t.Run(tc.query, func(t *testing.T) {
				items := walk(t, ts.URL+"/api/v1/hosts?"+tc.query, 9)
				sql := `SELECT DISTINCT p.host_id FROM postures p JOIN hosts h ON h.id = p.host_id WHERE p.stale_run IS NULL AND ` + tc.where
				for _, st := range []string{"Failed", "Error"} {
					if strings.Contains(tc.query, "status="+st) {
						sql += ` AND p.status = '` + st + `'`
					}
				}
				if strings.Contains(tc.query, "q=app") {
					sql += ` AND (h.ip LIKE '%app%' OR h.dns LIKE '%app%' OR h.os LIKE '%app%')`
				}
				want := db.rows(sql+` ORDER BY p.host_id`, tc.args...)
				if len(items) != len(want) || len(items) == 0 {
					t.Fatalf("%d hosts, SQL says %d", len(items), len(want))
				}
				for i, h := range items {
					hid := want[i][0].(int64)
					if num(h["id"]) != hid {
						t.Fatalf("host %d is %v, SQL says %d", i, h["id"], hid)
					}
					checkFigures(t, fmt.Sprint("host ", hid), h, db.figures("host_id = ? AND "+tc.where, append([]any{hid}, tc.args...)...))
				}
			})
		}
		hid := db.int(`SELECT host_id FROM history GROUP BY host_id ORDER BY count(*) DESC LIMIT 1`)
		var v struct {
			Host     map[string]any   `json:"host"`
			Postures []map[string]any `json:"postures"`
			Changes  []map[string]any `json:"changes"`
		}
		getJSON(t, fmt.Sprintf("%s/api/v1/hosts/%d", ts.URL, hid), &v)
		checkFigures(t, "host detail", v.Host, db.figures("host_id = ?", hid))
		if want := db.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL AND host_id = ?`, hid); int64(len(v.Postures)) != want {
			t.Errorf("host %d: %d postures, SQL says %d", hid, len(v.Postures), want)
		}
		if want := db.int(`SELECT count(*) FROM history WHERE host_id = ?`, hid); int64(len(v.Changes)) != want || want == 0 {
			t.Errorf("host %d: %d changes, SQL says %d", hid, len(v.Changes), want)
		}
	})
}

func TestFrameworksMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		items := walk(t, ts.URL+"/api/v1/frameworks", 3)
		want := db.rows(`SELECT id, name FROM frameworks WHERE id IN (SELECT framework_id FROM control_frameworks) ORDER BY id`)
		if len(items) != len(want) || len(items) == 0 {
			t.Fatalf("%d frameworks, SQL says %d", len(items), len(want))
		}
		for i, f := range items {
			id := want[i][0].(int64)
			checkFigures(t, fmt.Sprint("framework ", id), f, db.figures(`control_id IN (SELECT control_id FROM control_frameworks WHERE framework_id = ?)`, id))
			if c := db.int(`SELECT count(DISTINCT control_id) FROM control_frameworks WHERE framework_id = ?`, id); num(f["controls"]) != c {
				t.Errorf("framework %d: %d controls, SQL says %d", id, num(f["controls"]), c)
			}
		}
	})
}

func TestChangesRunsAndTrendMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		runs := db.rows(`SELECT id FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 2`)
		from, to := runs[1][0].(int64), runs[0][0].(int64)
		want := db.rows(`SELECT posture_id, new_status FROM history WHERE run_id > ? AND run_id <= ?
			ORDER BY CASE new_status WHEN 'Failed' THEN 0 WHEN 'Error' THEN 1 ELSE 2 END, id`, from, to)
		for _, url := range []string{"/api/v1/changes", fmt.Sprintf("/api/v1/changes?from=%d&to=%d", from, to)} {
			items := walk(t, ts.URL+url, 13)
			if len(items) != len(want) || len(want) == 0 {
				t.Fatalf("%s: %d changes, SQL says %d", url, len(items), len(want))
			}
			for i, c := range items {
				if num(c["posture_id"]) != want[i][0] || c["new_status"] != want[i][1] {
					t.Fatalf("%s: change %d is %v, SQL says %v (newly failing first)", url, i, c, want[i])
				}
			}
		}
		failing := walk(t, ts.URL+"/api/v1/changes?status=Failed", 50)
		if n := db.int(`SELECT count(*) FROM history WHERE run_id > ? AND run_id <= ? AND new_status = 'Failed'`, from, to); int64(len(failing)) != n {
			t.Errorf("%d newly failing, SQL says %d", len(failing), n)
		}
		items := walk(t, ts.URL+"/api/v1/runs", 1)
		if n := db.int(`SELECT count(*) FROM runs`); int64(len(items)) != n || num(items[0]["id"]) != to {
			t.Errorf("%d runs listed from %v, SQL says %d from %d", len(items), items[0]["id"], n, to)
		}
		var run map[string]any
		getJSON(t, fmt.Sprintf("%s/api/v1/runs/%d", ts.URL, to), &run)
		if num(run["records"]) != db.int(`SELECT records FROM runs WHERE id = ?`, to) ||
			len(run["policy_summaries"].([]any)) != int(db.int(`SELECT count(*) FROM run_policies WHERE run_id = ?`, to)) {
			t.Errorf("run %d: %v", to, run)
		}
		trend := walk(t, ts.URL+"/api/v1/trend", 1)
		if int64(len(trend)) != db.int(`SELECT count(*) FROM runs WHERE finished_at IS NOT NULL`) {
			t.Fatalf("%d trend points", len(trend))
		}
		checkFigures(t, "the last trend point", trend[len(trend)-1], db.figures("1"))
		policy := db.int(`SELECT min(policy_id) FROM postures`)
		pt := walk(t, fmt.Sprintf("%s/api/v1/trend?policy=%d", ts.URL, policy), 10)
		checkFigures(t, "the policy's last trend point", pt[len(pt)-1], db.figures("policy_id = ?", policy))
	})
}

// TestExceptionsMatchSQL: the exception list, of any status and of each,
// holds those still running by end date, soonest first (those expiring
// within 30 days lead), then those ended, the latest first, then those
// without an end date, walked in pages across the three; "now" is set
// amid the end dates so that some have ended. The page lists the same,
// an exception expiring soon first. Exceptions of stale postures are left
// out, as the stale postures are.
func TestExceptionsMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	ends := db.rows(`SELECT end_date FROM exceptions WHERE end_date IS NOT NULL ORDER BY end_date`)
	if len(ends) < 4 {
		t.Fatalf("%d exceptions with an end date: too few to test", len(ends))
	}
	now, err := time.Parse(time.RFC3339, ends[len(ends)/2][0].(string))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(-time.Second)
	at := now.UTC().Format(time.RFC3339)
	if db.int(`SELECT count(*) FROM exceptions WHERE posture_id IN (SELECT id FROM postures WHERE stale_run IS NOT NULL)`) == 0 {
		t.Fatal("no exception of a stale posture: the list must show that it leaves them out")
	}
	forEachServerWith(t, path, server.Options{Now: func() time.Time { return now }}, func(t *testing.T, ts *httptest.Server) {
		for _, status := range []string{"", "Approved", "Pending", "Rejected"} {
			want := db.rows(`SELECT posture_id FROM exceptions WHERE (?1 = 'any' OR status = ?1)
				AND posture_id IN (SELECT id FROM postures WHERE stale_run IS NULL)
				ORDER BY end_date IS NULL, end_date < ?2, CASE WHEN end_date >= ?2 THEN end_date END,
				CASE WHEN end_date >= ?2 THEN posture_id END, end_date DESC, posture_id DESC`, cmp.Or(status, "any"), at)
			url := ts.URL + "/api/v1/exceptions"
			if status != "" {
				url += "?status=" + status
			}
			items := walk(t, url, 3)
			if len(items) != len(want) || len(want) == 0 {
				t.Fatalf("%s: %d exceptions, SQL says %d", url, len(items), len(want))
			}
			for i, e := range items {
				if num(e["posture_id"]) != want[i][0] {
					t.Fatalf("%s: exception %d on posture %v, SQL says %v", url, i, e["posture_id"], want[i][0])
				}
			}
		}
		_, body := get(t, ts.URL+"/exceptions")
		first := regexp.MustCompile(`(?s)<tbody>\s*<tr><td class="d">(.*?)</td>`).FindSubmatch(body)
		if first == nil || !strings.Contains(string(first[1]), "due soon") {
			t.Errorf("the exceptions page does not begin with one expiring within 30 days: %q", first)
		}
	})
}

func TestErrorsSayWhatWasWrong(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		policy := openSQL(t, path).int(`SELECT min(id) FROM policies`)
		for _, tc := range []struct {
			url   string
			code  int
			param string
		}{
			{"/api/v1/postures?colour=red", 400, "colour"},
			{"/api/v1/postures?policy=abc", 400, "policy"},
			{"/api/v1/postures?status=Broken", 400, "status"},
			{"/api/v1/postures?since=yesterday", 400, "since"},
			{"/api/v1/postures?since=9999-12-31T23:59:59.5Z", 400, "since"}, // year 10000: every posture on SQLite, none on PostgreSQL
			{"/api/v1/postures?since=9999-12-31T23:59:59-01:00", 400, "since"},
			{"/api/v1/postures?since=0000-01-01", 400, "since"},
			{"/api/v1/postures?limit=0", 400, "limit"},
			{"/api/v1/postures?limit=1001", 400, "limit"},
			{"/api/v1/postures?cursor=garbage", 400, "cursor"},
			{"/api/v1/hosts?cursor=" + firstCursor(t, ts.URL+"/api/v1/policies?limit=1"), 400, "cursor"}, // another list's
			{"/api/v1/postures?format=xml", 400, "format"},
			{"/api/v1/postures?policy=1&policy=2", 400, "policy"},
			{fmt.Sprintf("/api/v1/policies/%d/controls?criticality=HUGE", policy), 400, "criticality"},
			{fmt.Sprintf("/api/v1/policies/%d/controls?section=x", policy), 400, "section"},
			{"/api/v1/summary?x=1", 400, "x"},
			{"/api/v1/hosts?q=%00app", 400, "q"}, // a NUL once cut the search short: every host matched
			{"/api/v1/hosts?q=%ff", 400, "q"},
			{"/api/v1/hosts?q=" + strings.Repeat("x", 201), 400, "q"},
			{"/api/v1/changes?from=5&to=2", 400, "from"},
			{"/api/v1/changes?from=1&to=999999", 400, "to"}, // a run the database does not have: not an empty list
			{"/api/v1/changes?from=999998&to=999999", 400, "from"},
			{"/api/v1/changes?cursor=999998.999999." + strings.SplitN(firstCursor(t, ts.URL+"/api/v1/changes?limit=1"), ".", 3)[2], 400, "cursor"},
			{"/api/v1/postures?=1", 400, "query"},
			{"/api/v1/trend?cursor=k-1", 400, "cursor"}, // once the list's start again
			{"/api/v1/trend?cursor=k+1", 400, "cursor"},
			{"/api/v1/postures?format=csv&limit=5", 400, "limit"}, // a download is the whole list
			{"/api/v1/postures?format=ndjson&cursor=" + firstCursor(t, ts.URL+"/api/v1/postures?limit=1"), 400, "cursor"},
			{"/api/v1/policies/999999999", 404, ""},
			{"/api/v1/policies/abc", 404, ""},
			{fmt.Sprintf("/api/v1/policies/+%d", policy), 404, ""}, // one address per id
			{fmt.Sprintf("/api/v1/policies/0%d", policy), 404, ""},
			{"/api/v1/controls/999999999", 404, ""},
			{"/api/v1/hosts/999999999", 404, ""},
			{"/api/v1/runs/999999", 404, ""},
			{"/api/v1/policies/999999999/controls", 404, ""},
			{"/api/v1/nothing", 404, ""},
		} {
			code, body := get(t, ts.URL+tc.url)
			var e struct {
				Error     string `json:"error"`
				Parameter string `json:"parameter"`
			}
			if err := json.Unmarshal(body, &e); err != nil || code != tc.code || e.Error == "" || (tc.param != "" && e.Parameter != tc.param) {
				t.Errorf("%s: %d %s; want %d with a JSON error naming %q", tc.url, code, body, tc.code, tc.param)
			}
		}
		// the search's limit counts characters, as the search field does
		if code, body := get(t, ts.URL+"/api/v1/hosts?q="+strings.Repeat("%C3%A9", 200)); code != http.StatusOK {
			t.Errorf("q of 200 two-byte characters: %d %s", code, body)
		}
		// a choice error names the choices, and only them
		_, body := get(t, ts.URL+"/api/v1/postures?status=Broken")
		if !strings.Contains(string(body), "use one of Passed, Failed, Error") {
			t.Errorf("status=Broken: %s; want the three statuses named", body)
		}
	})
}

func firstCursor(t *testing.T, url string) string {
	var p listPage
	getJSON(t, url, &p)
	if p.Next == nil {
		t.Fatalf("%s has one page", url)
	}
	return *p.Next
}

func TestTokenIsRequiredWhenSet(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	ts := newServer(t, path, server.Options{Token: "s3cret-token"})
	for _, url := range []string{"/api/v1/summary", "/api/v1/postures?format=csv", "/metrics"} {
		if code, _ := get(t, ts.URL+url); code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", url, code)
		}
		if code, _ := get(t, ts.URL+url, "Authorization", "Bearer wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", url, code)
		}
		if code, body := get(t, ts.URL+url, "Authorization", "Bearer s3cret-token"); code != http.StatusOK {
			t.Errorf("%s with the token: %d %.100s", url, code, body)
		}
	}
	if code, _ := get(t, ts.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz needs no token: %d", code)
	}
}

package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/server"
	"pcsync/internal/store/sqlite"
)

// pageCSV fetches a page's table as CSV: its header and its records.
func pageCSV(t *testing.T, url string) ([]string, [][]string) {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", url, code, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("GET %s: not a CSV with a header: %v", url, err)
	}
	return recs[0], recs[1:]
}

// column is the index of a CSV column.
func column(t *testing.T, header []string, name string) int {
	t.Helper()
	for i, h := range header {
		if h == name {
			return i
		}
	}
	t.Fatalf("no column %s in %v", name, header)
	return -1
}

// TestValueGroupsListTheirHosts checks the control page's groups of
// failing hosts: together they hold every failing posture of the control
// (by SQL), and each group's link lists exactly its hosts and postures,
// the oldest of whose first failures is the group's oldest failure.
func TestValueGroupsListTheirHosts(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	controls := db.rows(`SELECT control_id, count(*) FROM postures WHERE stale_run IS NULL AND status = 'Failed'
		GROUP BY control_id ORDER BY control_id LIMIT 6`)
	if len(controls) == 0 {
		t.Fatal("no failing control in the test database")
	}
	for _, c := range controls {
		id, failed := c[0].(int64), c[1].(int64)
		head, groups := pageCSV(t, fmt.Sprintf("%s/controls/%d?csv=values", ts.URL, id))
		vi, hi, pi, oi := column(t, head, "value"), column(t, head, "hosts"), column(t, head, "postures"), column(t, head, "oldest_failure")
		var total int64
		for _, g := range groups {
			var hosts, postures int64
			fmt.Sscan(g[hi], &hosts)
			fmt.Sscan(g[pi], &postures)
			total += postures
			fhead, rows := pageCSV(t, fmt.Sprintf("%s/controls/%d?value=%s&csv=failing", ts.URL, id, url.QueryEscape(g[vi])))
			hcol, fcol := column(t, fhead, "host_id"), column(t, fhead, "first_fail_date")
			distinct, oldest := map[string]bool{}, ""
			for _, r := range rows {
				distinct[r[hcol]] = true
				if f := r[fcol]; f != "" && (oldest == "" || f < oldest) {
					oldest = f
				}
			}
			if oldest != g[oi] {
				t.Errorf("control %d, value %q: the group's oldest failure is %q, its list's %q", id, g[vi], g[oi], oldest)
			}
			if int64(len(rows)) != postures || int64(len(distinct)) != hosts {
				t.Errorf("control %d, value %q: the group says %d hosts, %d postures; its list has %d hosts, %d postures",
					id, g[vi], hosts, postures, len(distinct), len(rows))
			}
		}
		if total != failed {
			t.Errorf("control %d: the value groups hold %d failing postures, SQL counts %d", id, total, failed)
		}
	}
}

// TestPageTablesMatchSQL checks the tables pages download themselves (no
// /api/v1 list gives them) against SQL.
func TestPageTablesMatchSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	policy := db.int(`SELECT min(policy_id) FROM sections`)
	run := db.int(`SELECT max(run_id) FROM run_policies`)
	host := db.int(`SELECT host_id FROM history GROUP BY host_id ORDER BY count(*) DESC, host_id LIMIT 1`)
	for _, c := range []struct {
		url  string
		want int64
	}{
		{"/?csv=criticality", db.int(`SELECT count(DISTINCT coalesce(c.criticality_value, -1)) FROM postures p
			LEFT JOIN controls c ON c.id = p.control_id WHERE p.stale_run IS NULL`)},
		{"/?csv=technology", db.int(`SELECT count(DISTINCT technology_id) FROM postures WHERE stale_run IS NULL`)},
		{fmt.Sprintf("/policies/%d?csv=sections", policy), db.int(`SELECT count(*) FROM sections WHERE policy_id = ?`, policy)},
		{fmt.Sprintf("/runs/%d?csv=policies", run), db.int(`SELECT count(*) FROM run_policies WHERE run_id = ?`, run)},
		{fmt.Sprintf("/hosts/%d?csv=changes", host), min(db.int(`SELECT count(*) FROM history WHERE host_id = ?`, host), 100)},
		{fmt.Sprintf("/hosts/%d?csv=exceptions", host), db.int(`SELECT count(*) FROM exceptions e JOIN postures p ON p.id = e.posture_id
			WHERE p.host_id = ? AND p.stale_run IS NULL`, host)},
	} {
		if _, rows := pageCSV(t, ts.URL+c.url); int64(len(rows)) != c.want {
			t.Errorf("%s: %d rows, SQL says %d", c.url, len(rows), c.want)
		}
	}
}

// TestOverviewShowsTheSchedule checks the freshness of a server that runs
// the sync itself.
func TestOverviewShowsTheSchedule(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	state := server.ScheduleState{Every: 6 * time.Hour, Next: now.Add(90 * time.Minute), LastErr: "login refused"}
	ts := newServer(t, testDB(t), server.Options{Now: func() time.Time { return now },
		Schedule: func() server.ScheduleState { return state }})
	_, body := get(t, ts.URL+"/")
	for _, want := range []string{"2026-12-01 10:30 UTC (in 90 min), every 6h", "last scheduled run failed: login refused"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the overview does not say %q", want)
		}
	}
}

// TestOverviewCountsTheHostsNotScanned checks the overview's count of
// hosts with current postures not scanned for 30 days against SQL, with
// "now" 30 days after cutoffs where no host, some and all of them were
// scanned before.
func TestOverviewCountsTheHostsNotScanned(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	d := openSQL(t, path)
	const current = `FROM hosts h WHERE h.id IN (SELECT host_id FROM postures WHERE stale_run IS NULL)`
	dates := d.rows(`SELECT h.compliance_last_scan_date ` + current + ` AND h.compliance_last_scan_date IS NOT NULL
		ORDER BY 1`)
	if len(dates) < 3 {
		t.Fatalf("%d scanned hosts: too few to test", len(dates))
	}
	day := func(i int) time.Time {
		tm, err := time.Parse(time.RFC3339, dates[i][0].(string))
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	figure := regexp.MustCompile(`Not scanned for 30 days</dt><dd[^>]*><a href="[^"]*">([0-9,]+) hosts`)
	for _, cutoff := range []time.Time{day(0), day(len(dates) / 2), day(len(dates) - 1).Add(time.Second)} {
		want := d.int(`SELECT count(*) `+current+` AND (h.compliance_last_scan_date < ? OR h.compliance_last_scan_date IS NULL)`,
			cutoff.UTC().Format(time.RFC3339))
		now := cutoff.Add(30 * 24 * time.Hour)
		forEachServerWith(t, path, server.Options{Now: func() time.Time { return now }}, func(t *testing.T, ts *httptest.Server) {
			_, body := get(t, ts.URL+"/")
			m := figure.FindSubmatch(body)
			if m == nil {
				t.Fatalf("no count of hosts not scanned on the overview")
			}
			if got := strings.ReplaceAll(string(m[1]), ",", ""); got != fmt.Sprint(want) {
				t.Errorf("scanned before %s: the overview says %s hosts, SQL %d", cutoff, got, want)
			}
		})
	}
}

// TestPagesOfAnEmptyDatabase opens every page of a database no sync has
// filled: each answers, and says there is nothing yet.
func TestPagesOfAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "empty.db")
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	ts := newServer(t, path, server.Options{})
	for _, p := range []string{"/", "/hosts", "/postures", "/frameworks", "/changes", "/exceptions", "/runs"} {
		code, body := get(t, ts.URL+p)
		if code != http.StatusOK || !strings.Contains(string(body), `class="empty"`) {
			t.Errorf("%s on an empty database: %d\n%.300s", p, code, body)
		}
	}
}

// TestOverviewWarnsOfAnIncompleteRun checks the completeness warning on a
// copy of the test database whose last run is made a full one (where
// every host asked for must return posture) with a problem in one policy.
func TestOverviewWarnsOfAnIncompleteRun(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Exec(`UPDATE runs SET mode = 'full' WHERE id = (SELECT max(id) FROM runs);
		UPDATE run_policies SET error = 'posture stream cut short' WHERE run_id = (SELECT max(id) FROM runs)
			AND policy_id = (SELECT max(policy_id) FROM run_policies)`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	want := db.rows(`SELECT policy_id, hosts_requested, hosts_returned, coalesce(error, '') FROM run_policies
		WHERE run_id = (SELECT max(id) FROM runs) AND (hosts_returned < hosts_requested OR error IS NOT NULL)`)
	if len(want) == 0 {
		t.Fatal("the last run lacks no host")
	}
	_, body := get(t, ts.URL+"/")
	page := string(body)
	i := strings.Index(page, "The last run was incomplete")
	if i < 0 {
		t.Fatal("the overview does not warn of the incomplete run")
	}
	if n := strings.Count(page[i:], "<li>"); n != len(want) {
		t.Errorf("the warning lists %d policies, SQL %d", n, len(want))
	}
	for _, w := range want {
		line := fmt.Sprintf(`<a href="/policies/%d">`, w[0])
		if w[1].(int64) > w[2].(int64) {
			line = fmt.Sprintf("%d of %d hosts returned", w[2], w[1])
		}
		if !strings.Contains(page[i:], line) || !strings.Contains(page[i:], w[3].(string)) {
			t.Errorf("the warning does not say %q %q", line, w[3])
		}
	}
	_, body = get(t, fmt.Sprintf("%s/runs/%d", ts.URL, db.int(`SELECT max(id) FROM runs`)))
	if !strings.Contains(string(body), fmt.Sprintf("Incomplete</strong>: %d of", len(want))) {
		t.Errorf("the run's page does not say %d policies are incomplete", len(want))
	}
}

// TestOverviewBreakdownMatchesSQL: the overview's figures per criticality
// and per technology (its CSV downloads) are the current postures counted
// by SQL, each group with its passed, failed and error counts.
func TestOverviewBreakdownMatchesSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	for _, c := range []struct{ csv, key, sql string }{
		{"criticality", "value", `SELECT coalesce(c.criticality_value, -1), sum(p.status = 'Passed'), sum(p.status = 'Failed'),
			sum(p.status = 'Error') FROM postures p LEFT JOIN controls c ON c.id = p.control_id WHERE p.stale_run IS NULL GROUP BY 1`},
		{"technology", "id", `SELECT technology_id, sum(status = 'Passed'), sum(status = 'Failed'), sum(status = 'Error')
			FROM postures WHERE stale_run IS NULL GROUP BY 1`},
	} {
		want := map[string]string{}
		for _, r := range db.rows(c.sql) {
			want[fmt.Sprint(r[0])] = fmt.Sprint(r[1:]...)
		}
		head, rows := pageCSV(t, ts.URL+"/?csv="+c.csv)
		k, p, f, e := column(t, head, c.key), column(t, head, "passed"), column(t, head, "failed"), column(t, head, "error")
		got := map[string]string{}
		for _, r := range rows {
			got[r[k]] = r[p] + " " + r[f] + " " + r[e]
		}
		if len(want) < 2 || !reflect.DeepEqual(got, want) {
			t.Errorf("/?csv=%s: %v; SQL says %v", c.csv, got, want)
		}
	}
}

// TestUnscannedHostsLinkToTheirList follows the overview's count of hosts
// not scanned for 30 days to the list behind it: the hosts page it links
// to, and that page's CSV download, hold exactly the hosts SQL finds.
func TestUnscannedHostsLinkToTheirList(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	d := openSQL(t, path)
	dates := d.rows(`SELECT compliance_last_scan_date FROM hosts WHERE compliance_last_scan_date IS NOT NULL
		AND id IN (SELECT host_id FROM postures WHERE stale_run IS NULL) ORDER BY 1`)
	if len(dates) < 3 {
		t.Fatalf("%d scanned hosts: too few to test", len(dates))
	}
	cutoff, err := time.Parse(time.RFC3339, dates[len(dates)/2][0].(string))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	if n := d.int(`SELECT count(*) FROM hosts WHERE compliance_last_scan_date IS NULL AND id IN
		(SELECT host_id FROM postures WHERE stale_run IS NULL)`); n == 0 {
		t.Fatal("every current host has a scan date: the hosts with none are not tested")
	}
	for _, r := range d.rows(`SELECT id FROM hosts WHERE (compliance_last_scan_date < ? OR compliance_last_scan_date IS NULL)
		AND id IN (SELECT host_id FROM postures WHERE stale_run IS NULL) ORDER BY id`, cutoff.UTC().Format(time.RFC3339)) {
		ids = append(ids, r[0].(int64))
	}
	want := fmt.Sprint(ids)
	now := cutoff.Add(30 * 24 * time.Hour)
	figure := regexp.MustCompile(`Not scanned for 30 days</dt><dd[^>]*><a href="([^"]+)">([0-9,]+) hosts`)
	csvLink := regexp.MustCompile(`<a class="csv" href="([^"]+)"`)
	rowLink := regexp.MustCompile(`<th scope="row"><a href="/hosts/([0-9]+)"`)
	forEachServerWith(t, path, server.Options{Now: func() time.Time { return now }}, func(t *testing.T, ts *httptest.Server) {
		_, body := get(t, ts.URL+"/")
		m := figure.FindSubmatch(body)
		if m == nil {
			t.Fatal("no count of hosts not scanned on the overview")
		}
		_, page := get(t, ts.URL+html.UnescapeString(string(m[1])))
		var shown []int64
		for _, r := range rowLink.FindAllSubmatch(page, -1) {
			var id int64
			fmt.Sscan(string(r[1]), &id)
			shown = append(shown, id)
		}
		c := csvLink.FindSubmatch(page)
		if c == nil {
			t.Fatal("no CSV download on the hosts page")
		}
		head, recs := pageCSV(t, ts.URL+html.UnescapeString(string(c[1])))
		var downloaded []int64
		for _, r := range recs {
			var id int64
			fmt.Sscan(r[column(t, head, "id")], &id)
			downloaded = append(downloaded, id)
		}
		if got := fmt.Sprint(shown); got != want || fmt.Sprint(downloaded) != want || strings.ReplaceAll(string(m[2]), ",", "") != fmt.Sprint(len(shown)) {
			t.Errorf("the overview counts %s hosts not scanned and links to %s, which lists %v and downloads %v; SQL finds %v",
				m[2], m[1], got, downloaded, want)
		}
	})
}

// formFields are what a page's filter form submits as it is shown: each
// input's value, and each select's selected option (else its first).
func formFields(t *testing.T, body []byte) url.Values {
	t.Helper()
	form := regexp.MustCompile(`(?s)<form class="filters".*?</form>`).Find(body)
	if form == nil {
		t.Fatal("no filter form")
	}
	out := url.Values{}
	for _, m := range regexp.MustCompile(`<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"`).FindAllSubmatch(form, -1) {
		out.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	for _, m := range regexp.MustCompile(`(?s)<select name="([^"]+)">(.*?)</select>`).FindAllSubmatch(form, -1) {
		opts := regexp.MustCompile(`<option value="([^"]*)"( selected)?`).FindAllSubmatch(m[2], -1)
		if len(opts) == 0 {
			continue
		}
		v := opts[0][1]
		for _, o := range opts {
			if len(o[2]) > 0 {
				v = o[1]
			}
		}
		out.Set(string(m[1]), html.UnescapeString(string(v)))
	}
	return out
}

// TestFilterFormsKeepTheAddressFilters: the filters live in the address,
// and a page's filter form shows every one of them, so that changing one
// filter and submitting the form keeps the others.
func TestFilterFormsKeepTheAddressFilters(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	ts := newServer(t, path, server.Options{})
	for _, page := range filteredPages(t, openSQL(t, path)) {
		code, body := get(t, ts.URL+page)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", page, code)
		}
		u, _ := url.Parse(page)
		got := formFields(t, body)
		for k := range u.Query() {
			if got.Get(k) != u.Query().Get(k) {
				t.Errorf("%s: the filter form submits %s=%q, the address has %q", page, k, got.Get(k), u.Query().Get(k))
			}
		}
	}
}

// Every download and API link of a page with all its filters set answers:
// the policy page's trend CSV once carried the page's filters, which the
// trend list does not take (400).
func TestTheLinksOfAFilteredPageAnswer(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	ts := newServer(t, path, server.Options{})
	links := regexp.MustCompile(`href="(/api/v1/[^"]*)"`)
	for _, page := range append(filteredPages(t, openSQL(t, path)), "/") {
		code, body := get(t, ts.URL+page)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", page, code)
		}
		found := links.FindAllSubmatch(body, -1)
		if len(found) == 0 {
			t.Errorf("%s: no link to the API", page)
		}
		for _, m := range found {
			link := html.UnescapeString(string(m[1]))
			if code, body := get(t, ts.URL+link); code != http.StatusOK {
				t.Errorf("%s links to %s, which answers %d: %.200s", page, link, code, body)
			}
		}
	}
}

// filteredPages are the dashboard's filtered pages with every filter each
// takes set, to values the shared database has.
func filteredPages(t *testing.T, db *sqlDB) []string {
	t.Helper()
	p := db.rows(`SELECT p.policy_id, p.host_id, p.control_id, p.technology_id, f.framework_id, p.criticality_label
		FROM postures p JOIN control_frameworks f ON f.control_id = p.control_id
		WHERE p.stale_run IS NULL AND p.status = 'Failed' AND p.criticality_label IS NOT NULL LIMIT 1`)
	if len(p) == 0 {
		t.Fatal("no failing posture of a control in a framework")
	}
	policy, host, control, tech, fw, crit := p[0][0], p[0][1], p[0][2], p[0][3], p[0][4], p[0][5]
	section := db.int(`SELECT min(number) FROM sections WHERE policy_id = ?`, policy)
	return []string{
		fmt.Sprintf("/postures?policy=%d&status=Failed&technology=%d&control=%d&host=%d&since=2020-01-01&framework=%d&criticality=%s",
			policy, tech, control, host, fw, crit),
		fmt.Sprintf("/hosts?policy=%d&status=Failed&q=1&unscanned_days=30", policy),
		fmt.Sprintf("/policies/%d?status=Failed&criticality=%s&technology=%d&section=%d", policy, crit, tech, section),
		fmt.Sprintf("/hosts/%d?policy=%d&status=Failed", host, policy),
		fmt.Sprintf("/changes?from=0&to=%d&status=Failed", db.int(`SELECT max(id) FROM runs`)),
	}
}

// The policy page's section figures count postures, and each links to the
// postures behind it (those of the section's controls in that status):
// the list has as many rows as the figure, which is what SQL counts.
func TestSectionFiguresListTheirPostures(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	d := openSQL(t, path)
	policy := d.int(`SELECT policy_id FROM policy_controls WHERE section_number > 0 GROUP BY policy_id ORDER BY count(DISTINCT section_number) DESC LIMIT 1`)
	if policy == 0 {
		t.Fatal("the fixture has no sections")
	}
	link := regexp.MustCompile(`<td class="n (passed|failed|error)"><a href="(/postures\?[^"]+)">([0-9,]+)</a>`)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		_, body := get(t, fmt.Sprintf("%s/policies/%d", ts.URL, policy))
		sections := string(body)
		if i := strings.Index(sections, `id="sections-h"`); i >= 0 {
			sections = sections[i:strings.Index(sections, `id="controls"`)]
		} else {
			t.Fatal("the policy page has no sections")
		}
		found := 0
		for _, m := range link.FindAllStringSubmatch(sections, -1) {
			href := html.UnescapeString(m[2])
			u, _ := url.Parse(href)
			q := u.Query()
			section, _ := strconv.ParseInt(q.Get("section"), 10, 64)
			if q.Get("policy") != strconv.FormatInt(policy, 10) || section == 0 {
				t.Errorf("section figure links to %s, not to the section's postures", href)
				continue
			}
			found++
			figure, _ := strconv.ParseInt(strings.ReplaceAll(m[3], ",", ""), 10, 64)
			want := d.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL AND policy_id = ? AND status = ?
				AND control_id IN (SELECT control_id FROM policy_controls WHERE policy_id = ? AND section_number = ?)`,
				policy, q.Get("status"), policy, section)
			if figure != want {
				t.Errorf("section %d shows %d %s postures; SQL counts %d", section, figure, q.Get("status"), want)
			}
			if got := len(walk(t, ts.URL+"/api/v1"+href, 1000)); int64(got) != want {
				t.Errorf("%s lists %d postures; the figure is %d", href, got, want)
			}
			if _, page := get(t, ts.URL+href); !strings.Contains(string(page), fmt.Sprintf(`name="section" min="1" value="%d"`, section)) {
				t.Errorf("%s: the filter form does not show the section", href)
			}
		}
		if found == 0 {
			t.Fatal("no section figure links to postures")
		}
		// a section's count of controls links to the policy's controls of that section
		counts := regexp.MustCompile(`<td class="n"><a href="(/policies/[0-9]+\?section=([0-9]+))#controls">([0-9,]+)</a></td>`)
		ms := counts.FindAllStringSubmatch(sections, -1)
		if len(ms) == 0 {
			t.Fatal("no section's count of controls links to its controls")
		}
		for _, m := range ms {
			n, _ := strconv.ParseInt(strings.ReplaceAll(m[3], ",", ""), 10, 64)
			want := d.int(`SELECT count(*) FROM policy_controls WHERE policy_id = ? AND section_number = ?`, policy, m[2])
			got := len(walk(t, fmt.Sprintf("%s/api/v1/policies/%d/controls?section=%s", ts.URL, policy, m[2]), 1000))
			if n != want || int64(got) != want {
				t.Errorf("section %s shows %d controls and its list has %d; SQL counts %d", m[2], n, got, want)
			}
		}
		code, body := get(t, ts.URL+"/api/v1/postures?section=1")
		if code != 400 || !strings.Contains(string(body), `"parameter":"section"`) {
			t.Errorf("section without policy: %d %s; want a 400 naming section", code, body)
		}
	})
}

// A control's page for a policy that neither has postures of the control
// nor states it is refused (it showed the policy's title over "n/a" and
// "no host fails", as if the policy passed); a policy that has it answers.
func TestAControlPageForAPolicyWithoutTheControlIsRefused(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	ts := newServer(t, path, server.Options{})
	pair := db.rows(`SELECT c.control_id, p.id FROM (SELECT DISTINCT control_id FROM postures) c, policies p
		WHERE NOT EXISTS (SELECT 1 FROM postures x WHERE x.control_id = c.control_id AND x.policy_id = p.id)
		AND NOT EXISTS (SELECT 1 FROM policy_control_technologies x WHERE x.control_id = c.control_id AND x.policy_id = p.id)
		ORDER BY 1, 2 LIMIT 1`)
	if len(pair) == 0 {
		t.Fatal("every policy has every control: nothing to refuse")
	}
	control, policy := pair[0][0].(int64), pair[0][1].(int64)
	code, body := get(t, fmt.Sprintf("%s/controls/%d?policy=%d", ts.URL, control, policy))
	if want := fmt.Sprintf("policy %d (", policy); code != http.StatusBadRequest || !strings.Contains(string(body), want) ||
		!strings.Contains(string(body), fmt.Sprintf("has no control %d in this database", control)) {
		t.Errorf("control %d in policy %d: %d %.300s; want a 400 saying the policy has no such control", control, policy, code, body)
	}
	has := db.int(`SELECT policy_id FROM postures WHERE control_id = ? LIMIT 1`, control)
	if code, body := get(t, fmt.Sprintf("%s/controls/%d?policy=%d", ts.URL, control, has)); code != http.StatusOK {
		t.Errorf("control %d in policy %d, which has it: %d %.300s", control, has, code, body)
	}
	stated := db.rows(`SELECT control_id, policy_id FROM policy_control_technologies t WHERE NOT EXISTS
		(SELECT 1 FROM postures x WHERE x.control_id = t.control_id AND x.policy_id = t.policy_id) LIMIT 1`)
	for _, s := range stated { // stated without postures: a page of no figures
		if code, body := get(t, fmt.Sprintf("%s/controls/%d?policy=%d", ts.URL, s[0], s[1])); code != http.StatusOK {
			t.Errorf("control %d stated by policy %d: %d %.300s", s[0], s[1], code, body)
		}
	}
}

// A failing posture that passed after its first fail says so: the age is
// since Qualys's first fail date, and the tooltip dates the last pass.
func TestAFailureAfterAPassShowsTheLastPass(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	rows := db.rows(`SELECT control_id, policy_id, host_id, substr(first_fail_date, 1, 10), substr(last_pass_date, 1, 10) FROM postures
		WHERE status = 'Failed' AND stale_run IS NULL AND last_pass_date > first_fail_date ORDER BY id LIMIT 1`)
	if len(rows) == 0 {
		t.Fatal("no failing posture passed after its first fail in the test database")
	}
	r := rows[0]
	ts := newServer(t, path, server.Options{})
	_, body := get(t, fmt.Sprintf("%s/controls/%d?policy=%d", ts.URL, r[0], r[1]))
	row := regexp.MustCompile(fmt.Sprintf(`<a href="/hosts/%d">[\s\S]*?<td class="n" title="([^"]*)">`, r[2])).FindSubmatch(body)
	if row == nil {
		t.Fatalf("host %d is not among the failing hosts of control %d in policy %d", r[2], r[0], r[1])
	}
	if want := fmt.Sprintf("first failed %s; passed last on %s, failing since", r[3], r[4]); string(row[1]) != want {
		t.Errorf("the age's tooltip says %q; want %q", row[1], want)
	}
}

// A policy without postures says why its controls table is empty: an
// inactive one says how to sync it, and only a filtered page speaks of
// filters.
func TestAPolicyWithoutPosturesSaysWhy(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	ts := newServer(t, path, server.Options{})
	ids := db.rows(`SELECT id FROM policies p WHERE lower(status) <> 'active'
		AND NOT EXISTS (SELECT 1 FROM postures x WHERE x.policy_id = p.id) ORDER BY id LIMIT 1`)
	if len(ids) == 0 {
		t.Fatal("the test database has no inactive policy without postures")
	}
	id := ids[0][0].(int64)
	code, body := get(t, fmt.Sprintf("%s/policies/%d", ts.URL, id))
	if want := fmt.Sprintf("<code>pcsync sync --policy %d</code>", id); code != http.StatusOK ||
		!strings.Contains(string(body), want) || strings.Contains(string(body), "No control matches these filters.") {
		t.Errorf("inactive policy %d: %d; want its empty controls table to say how to sync it\n%.300s", id, code, body)
	}
	code, body = get(t, fmt.Sprintf("%s/policies/%d?status=failed", ts.URL, id))
	if code != http.StatusOK || !strings.Contains(string(body), "No control matches these filters.") {
		t.Errorf("inactive policy %d, filtered: %d; want no control matching the filters", id, code)
	}
}

// On a policy page filtered by technology the controls' figures are of
// that technology, and so is the list each figure links to.
func TestControlFiguresOfATechnologyListTheirPostures(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	d := openSQL(t, path)
	pair := d.rows(`SELECT policy_id, technology_id FROM postures WHERE stale_run IS NULL AND policy_id IN
		(SELECT policy_id FROM postures GROUP BY policy_id HAVING count(DISTINCT technology_id) > 1)
		GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1`)
	if len(pair) == 0 {
		t.Fatal("no policy has postures of two technologies")
	}
	policy, tech := pair[0][0].(int64), pair[0][1].(int64)
	link := regexp.MustCompile(`<td class="n (passed|failed|error)"><a href="(/postures\?[^"]+)">([0-9,]+)</a>`)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		_, body := get(t, fmt.Sprintf("%s/policies/%d?technology=%d", ts.URL, policy, tech))
		controls := string(body)
		controls = controls[strings.Index(controls, `id="controls"`):]
		found := 0
		for _, m := range link.FindAllStringSubmatch(controls, -1) {
			href := html.UnescapeString(m[2])
			u, _ := url.Parse(href)
			q := u.Query()
			figure, _ := strconv.ParseInt(strings.ReplaceAll(m[3], ",", ""), 10, 64)
			want := d.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL AND policy_id = ? AND control_id = ?
				AND technology_id = ? AND status = ?`, policy, q.Get("control"), tech, q.Get("status"))
			if figure != want {
				t.Errorf("control %s shows %d %s postures of technology %d; SQL counts %d", q.Get("control"), figure, q.Get("status"), tech, want)
			}
			if got := len(walk(t, ts.URL+"/api/v1"+href, 1000)); int64(got) != want {
				t.Errorf("%s lists %d postures; the figure is %d", href, got, want)
			}
			found++
		}
		if found == 0 {
			t.Fatal("no control figure links to postures")
		}
	})
}

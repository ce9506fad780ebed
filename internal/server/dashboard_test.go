package server_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pcsync/internal/server"
)

// TestDashboard drives the dashboard in a real browser over a database two
// syncs built, and checks what the pages show against SQL of its own.
func TestDashboard(t *testing.T) {
	startBrowser(t) // skip early when there is no browser outside CI
	db := testDB(t)
	d := openSQL(t, db)
	ts := newServer(t, db, server.Options{Version: "test"})
	t.Run("overview to policy to control to host to changes", func(t *testing.T) {
		b := newTab(t, ts.URL)
		pid, cid := checkOverview(t, b, d)
		hid := checkPolicyAndControl(t, b, d, pid, cid)
		checkHostAndChanges(t, b, d, hid)
		b.noConsoleErrors()
	})
	t.Run("lists, filters and paging", func(t *testing.T) {
		b := newTab(t, ts.URL)
		checkLists(t, b, d)
		b.noConsoleErrors()
	})
	t.Run("bad addresses", func(t *testing.T) {
		checkErrors(t, newTab(t, ts.URL))
	})
	t.Run("token login", func(t *testing.T) {
		checkLogin(t, newTab(t, newServer(t, db, server.Options{Token: "s3cret token"}).URL), d)
	})
}

// lastTwoRuns are the finished runs whose changes the overview and the
// changes page show by default.
func lastTwoRuns(t *testing.T, d *sqlDB) (from, to int64) {
	t.Helper()
	to = d.int(`SELECT max(id) FROM runs WHERE finished_at IS NOT NULL AND status != 'abandoned'`)
	from = d.int(`SELECT coalesce(max(id), 0) FROM runs WHERE finished_at IS NOT NULL AND status != 'abandoned' AND id < ?`, to)
	return from, to
}

// checkCards checks the figure cards against the test's SQL.
func checkCards(t *testing.T, b *tab, want figures) {
	t.Helper()
	got := figures{b.number(`[data-figure=passed]`), b.number(`[data-figure=failed]`), b.number(`[data-figure=error]`)}
	if got != want {
		t.Errorf("%s: cards show passed, failed, error %v; the database has %v", b.location(), got, want)
	}
	pct := "n/a"
	if v := want.pct(); v != nil {
		pct = fmt.Sprintf("%.2f %%", v)
	}
	if got := b.text(`[data-figure=pct]`); got != pct {
		t.Errorf("%s: compliance %q, want %q", b.location(), got, pct)
	}
}

// rows counts a table's rows, the row that says it is empty left out.
func rows(b *tab, table string) int {
	return b.count(table + ` tbody tr:not(:has(td.empty))`)
}

func checkOverview(t *testing.T, b *tab, d *sqlDB) (policy, control int64) {
	if st := b.open("/"); st != 200 {
		t.Fatalf("overview: status %d", st)
	}
	checkCards(t, b, d.figures("1"))
	if got, want := b.text(`.fresh dd a[href^="/runs/"]`), fmt.Sprintf("Run %d", d.int(`SELECT max(id) FROM runs`)); got != want {
		t.Errorf("last sync shows %q, want %q", got, want)
	}
	from, to := lastTwoRuns(t, d)
	changes := d.int(`SELECT count(*) FROM history WHERE run_id > ? AND run_id <= ?`, from, to)
	if changes == 0 {
		t.Fatal("the fixture has no changes: the second sync should see some")
	}
	if got := rows(b, `section[aria-labelledby=changes-h] table`); int64(got) != min(changes, 8) {
		t.Errorf("overview lists %d changes, want %d of %d", got, min(changes, 8), changes)
	}
	if got, want := rows(b, `section[aria-labelledby=policies-h] table`), d.int(`SELECT count(*) FROM policies`); int64(got) != want {
		t.Errorf("overview lists %d policies, want %d", got, want)
	}
	short := d.int(`SELECT count(*) FROM run_policies p JOIN runs r ON r.id = p.run_id WHERE r.id = (SELECT max(id) FROM runs)
		AND (p.error IS NOT NULL OR r.mode != 'incremental' AND p.hosts_returned < p.hosts_requested)`)
	if alerts := b.count(`main .alert`); short == 0 && alerts > 0 {
		t.Errorf("the overview warns (%s) of a last run that lacks nothing", b.text(`main .alert`))
	}
	checkA11y(t, b)
	b.shot("overview")
	policy = d.int(`SELECT min(policy_id) FROM postures WHERE stale_run IS NULL`)
	if st := b.click(fmt.Sprintf(`section[aria-labelledby=policies-h] a[href="/policies/%d"]`, policy)); st != 200 {
		t.Fatalf("policy: status %d", st)
	}
	control = d.int(`SELECT control_id FROM postures WHERE stale_run IS NULL AND policy_id = ? GROUP BY control_id
		ORDER BY sum(status = 'Failed') DESC, sum(status = 'Error') DESC, control_id LIMIT 1`, policy)
	return policy, control
}

func checkPolicyAndControl(t *testing.T, b *tab, d *sqlDB, policy, control int64) (host int64) {
	if got, want := b.location(), fmt.Sprintf("/policies/%d", policy); got != want {
		t.Fatalf("clicked the policy, landed on %s, want %s", got, want)
	}
	checkCards(t, b, d.figures("policy_id = ?", policy))
	if got := b.text(`#controls tbody tr:first-child td a`); got != strconv.FormatInt(control, 10) {
		t.Errorf("worst control listed first: %s, want %d", got, control)
	}
	checkA11y(t, b)
	b.shot("policy")
	if st := b.click(`#controls tbody tr:first-child td a`); st != 200 {
		t.Fatalf("control: status %d", st)
	}
	if got, want := b.location(), fmt.Sprintf("/controls/%d?policy=%d", control, policy); got != want {
		t.Fatalf("clicked the control, landed on %s, want %s", got, want)
	}
	fig := d.figures("policy_id = ? AND control_id = ?", policy, control)
	checkCards(t, b, fig)
	if got := rows(b, `#failing table`); int64(got) != min(fig.failed, 50) {
		t.Errorf("control lists %d failing hosts, want %d", got, min(fig.failed, 50))
	}
	var grouped int64
	for _, n := range b.texts(`section[aria-labelledby=values-h] tbody td:nth-child(3)`) {
		v, _ := strconv.ParseInt(strings.ReplaceAll(n, ",", ""), 10, 64)
		grouped += v
	}
	if grouped != fig.failed {
		t.Errorf("the value groups hold %d failing postures, the database %d", grouped, fig.failed)
	}
	host = d.int(`SELECT host_id FROM postures WHERE stale_run IS NULL AND policy_id = ? AND control_id = ? AND status = 'Failed'
		ORDER BY host_id, technology_id, instance, id LIMIT 1`, policy, control)
	if got := b.attr(`#failing tbody tr:first-child th a`, "href"); got != fmt.Sprintf("/hosts/%d", host) {
		t.Errorf("first failing host links %s, want /hosts/%d", got, host)
	}
	checkA11y(t, b)
	b.shot("control")
	checkValueGroup(t, b)
	b.open(fmt.Sprintf("/controls/%d?policy=%d", control, policy))
	if st := b.click(`#failing tbody tr:first-child th a`); st != 200 {
		t.Fatalf("host: status %d", st)
	}
	return host
}

// checkValueGroup follows the first value group of a control's page: the
// hosts listed are the group's.
func checkValueGroup(t *testing.T, b *tab) {
	group := `section[aria-labelledby=values-h] tbody tr:first-child`
	hosts, postures := b.number(group+` td:nth-child(2)`), b.number(group+` td:nth-child(3)`)
	if st := b.click(group + ` th a`); st != 200 {
		t.Fatalf("value group: status %d", st)
	}
	if u, _ := url.Parse(b.location()); !u.Query().Has("value") {
		t.Fatalf("the value group's link %s has no value", b.location())
	}
	if postures > 50 {
		return // the group spans pages
	}
	links := b.texts(`#failing tbody th a`)
	distinct := map[string]bool{}
	for _, l := range links {
		distinct[l] = true
	}
	if int64(len(links)) != postures || int64(len(distinct)) != hosts {
		t.Errorf("value group of %d hosts, %d postures lists %d postures of %d hosts", hosts, postures, len(links), len(distinct))
	}
}

func checkHostAndChanges(t *testing.T, b *tab, d *sqlDB, host int64) {
	if got, want := b.location(), fmt.Sprintf("/hosts/%d", host); got != want {
		t.Fatalf("clicked the host, landed on %s, want %s", got, want)
	}
	checkCards(t, b, d.figures("host_id = ?", host))
	if got, want := rows(b, `#postures table`), min(d.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL AND host_id = ?`, host), 50); int64(got) != want {
		t.Errorf("host lists %d postures, want %d", got, want)
	}
	if got, want := rows(b, `section[aria-labelledby=flips-h] table`), min(d.int(`SELECT count(*) FROM history WHERE host_id = ?`, host), 100); int64(got) != want {
		t.Errorf("host lists %d status changes, want %d", got, want)
	}
	if got, want := rows(b, `section[aria-labelledby=exc-h] table`), d.int(`SELECT count(*) FROM exceptions e JOIN postures p ON p.id = e.posture_id
		WHERE p.host_id = ? AND p.stale_run IS NULL`, host); int64(got) != want {
		t.Errorf("host lists %d exceptions, want %d", got, want)
	}
	checkA11y(t, b)
	b.shot("host")
	if st := b.click(`header nav a[href="/changes"]`); st != 200 {
		t.Fatalf("changes: status %d", st)
	}
	if got := b.attr(`header nav a[href="/changes"]`, "aria-current"); got != "page" {
		t.Errorf("the navigation marks the changes page %q, want aria-current=page", got)
	}
	from, to := lastTwoRuns(t, d)
	all := d.int(`SELECT count(*) FROM history WHERE run_id > ? AND run_id <= ?`, from, to)
	if got := rows(b, `main table`); int64(got) != min(all, 50) {
		t.Errorf("changes lists %d, want %d", got, min(all, 50))
	}
	if d.int(`SELECT count(*) FROM history WHERE run_id > ? AND run_id <= ? AND new_status = 'Failed'`, from, to) > 0 {
		if got := b.text(`main tbody tr:first-child td:nth-child(5) .st:last-child`); got != "Failed" {
			t.Errorf("newly failing first: the first change is to %q", got)
		}
	}
	checkA11y(t, b)
	b.shot("changes")
	if got := csvRows(t, b.download(`main caption a.csv`)); int64(got) != all {
		t.Errorf("the changes CSV has %d rows, the database %d changes", got, all)
	}
}

// csvRows counts the records of a CSV file after its header.
func csvRows(t *testing.T, data []byte) int {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("not a CSV with a header: %v\n%.300s", err, data)
	}
	return len(recs) - 1
}

// checkA11y checks what a keyboard and a screen reader need: every table
// has a caption and column headers with a scope, every field a label.
func checkA11y(t *testing.T, b *tab) {
	t.Helper()
	for sel, what := range map[string]string{
		`table:not(:has(> caption))`: "tables without a caption",
		`thead th:not([scope])`:      "column headers without a scope",
		`input:not([type=hidden]):not(label input), select:not(label select)`: "fields without a label",
		`svg.chart:not([role=img])`: "charts without role=img",
	} {
		if n := b.count(sel); n > 0 {
			t.Errorf("%s: %d %s", b.location(), n, what)
		}
	}
}

// ints runs a query and returns the integer columns of its first row.
func (d *sqlDB) ints(query string, args ...any) []int64 {
	d.t.Helper()
	rs := d.rows(query, args...)
	if len(rs) == 0 {
		d.t.Fatalf("%s: no row", query)
	}
	out := make([]int64, len(rs[0]))
	for i, v := range rs[0] {
		n, ok := v.(int64)
		if !ok && v != nil {
			d.t.Fatalf("%s: column %d is %T, not an integer", query, i, v)
		}
		out[i] = n
	}
	return out
}

// The run page's completeness per policy is the API's: a share where the
// API gives one, n/a where it gives null (an incremental run, a classic one).
func TestRunPageCompletenessIsTheAPIs(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	ts := newServer(t, path, server.Options{})
	cell := regexp.MustCompile(`<a href="/policies/(\d+)">[^<]*</a></th>\s*<td class="n">[^<]*</td><td class="n">[^<]*</td>\s*<td class="n[^"]*">(.*?)</td>`)
	runs := openSQL(t, path).rows(`SELECT id, mode FROM runs ORDER BY id`)
	modes := map[string]bool{}
	for _, r := range runs {
		id := r[0].(int64)
		modes[r[1].(string)] = true
		var v struct {
			Summaries []struct {
				PolicyID int64    `json:"policy_id"`
				Complete *float64 `json:"completeness_pct"`
			} `json:"policy_summaries"`
		}
		getJSON(t, fmt.Sprintf("%s/api/v1/runs/%d", ts.URL, id), &v)
		_, body := get(t, fmt.Sprintf("%s/runs/%d", ts.URL, id))
		shown := map[string]string{}
		for _, m := range cell.FindAllSubmatch(body, -1) {
			shown[string(m[1])] = string(m[2])
		}
		if len(shown) != len(v.Summaries) || len(shown) == 0 {
			t.Fatalf("run %d: the page shows %d policies, the API %d", id, len(shown), len(v.Summaries))
		}
		for _, s := range v.Summaries {
			want := `<span class="muted">n/a</span>`
			if s.Complete != nil {
				want = strconv.FormatFloat(*s.Complete, 'f', 2, 64) + " %"
			}
			if got := shown[strconv.FormatInt(s.PolicyID, 10)]; got != want {
				t.Errorf("run %d (%s), policy %d: the page shows %q complete, the API says %q", id, r[1], s.PolicyID, got, want)
			}
		}
	}
	if !modes["incremental"] || !modes["full"] {
		t.Fatalf("the test database has runs of modes %v; want full and incremental ones", modes)
	}
}

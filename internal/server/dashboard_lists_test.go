package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// checkLists checks the list pages: their rows against SQL, a filter
// form, the next page and the CSV link of what is shown.
func checkLists(t *testing.T, b *tab, d *sqlDB) {
	b.open("/postures")
	total := d.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL`)
	if total <= 50 {
		t.Fatalf("the fixture has %d postures: too few to page", total)
	}
	if got := rows(b, `main table`); got != 50 {
		t.Errorf("postures: %d rows on the first page, want 50", got)
	}
	if st := b.click(`.pager a[rel=next]`); st != 200 {
		t.Fatalf("next page: status %d", st)
	}
	if !strings.Contains(b.location(), "cursor=") {
		t.Errorf("the next page's address %s has no cursor", b.location())
	}
	want := d.ints(`SELECT host_id, control_id FROM postures WHERE stale_run IS NULL
		ORDER BY policy_id, host_id, control_id, technology_id, instance, id LIMIT 1 OFFSET 50`)
	if got := b.attr(`main tbody tr:first-child td:nth-child(2) a`, "href"); got != fmt.Sprintf("/hosts/%d", want[0]) {
		t.Errorf("the second page starts with host %s, want /hosts/%d", got, want[0])
	}
	if got := b.text(`main tbody tr:first-child th a`); got != fmt.Sprint(want[1]) {
		t.Errorf("the second page starts with control %s, want %d", got, want[1])
	}
	b.shot("postures-page-2")

	run(b, chromedp.SetValue(chromedp.CSS(`form.filters select[name=status]`), "Failed"))
	if st := b.click(`form.filters button[type=submit]`); st != 200 {
		t.Fatalf("filter: status %d", st)
	}
	if loc := b.location(); !strings.Contains(loc, "status=Failed") || strings.Contains(loc, "cursor=") {
		t.Errorf("the filter form led to %s", loc)
	}
	failed := d.int(`SELECT count(*) FROM postures WHERE stale_run IS NULL AND status = 'Failed'`)
	if got := rows(b, `main table`); int64(got) != min(failed, 50) {
		t.Errorf("failed postures: %d rows, want %d", got, min(failed, 50))
	}
	if got := b.attr(`main caption a.csv`, "href"); got != "/api/v1/postures?format=csv&status=Failed" {
		t.Errorf("the CSV of the failed postures is %s", got)
	}
	if got := csvRows(t, b.download(`main caption a.csv`)); int64(got) != failed {
		t.Errorf("the CSV of the failed postures has %d rows, want %d", got, failed)
	}
	checkA11y(t, b)
	checkListPages(t, b, d)
}

// checkListPages checks the rows of the other lists against SQL.
func checkListPages(t *testing.T, b *tab, d *sqlDB) {
	lastRun := d.int(`SELECT max(id) FROM runs`)
	for _, c := range []struct {
		path, shot, table string
		want              int64
	}{
		{"/hosts?status=Failed", "hosts", "main > table", d.int(`SELECT count(DISTINCT host_id) FROM postures WHERE stale_run IS NULL AND status = 'Failed'`)},
		{"/exceptions", "exceptions", "main > table", d.int(`SELECT count(*) FROM exceptions WHERE posture_id IN (SELECT id FROM postures WHERE stale_run IS NULL)`)},
		{"/frameworks", "frameworks", "main > table", d.int(`SELECT count(DISTINCT framework_id) FROM control_frameworks`)},
		{"/runs", "runs", "main > table", d.int(`SELECT count(*) FROM runs`)},
		{fmt.Sprintf("/runs/%d", lastRun), "run", "section[aria-labelledby=complete-h] table", d.int(`SELECT count(*) FROM run_policies WHERE run_id = ?`, lastRun)},
	} {
		if st := b.open(c.path); st != 200 {
			t.Errorf("%s: status %d", c.path, st)
			continue
		}
		if c.want == 0 {
			t.Errorf("%s: the fixture has nothing to list", c.path)
		}
		if got := rows(b, c.table); int64(got) != min(c.want, 50) {
			t.Errorf("%s: %d rows, want %d", c.path, got, min(c.want, 50))
		}
		checkA11y(t, b)
		b.shot(c.shot)
	}
	b.open("/exceptions")
	soonest := d.ints(`SELECT substr(min(end_date), 1, 10) = ? FROM exceptions
		WHERE end_date >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now') AND posture_id IN (SELECT id FROM postures WHERE stale_run IS NULL)`, b.text(`main tbody tr:first-child td:first-child`)[:10])
	if soonest[0] != 1 {
		t.Errorf("the first exception ends %s: not the soonest", b.text(`main tbody tr:first-child td:first-child`))
	}
}

// checkErrors checks the 404 and 400 pages.
func checkErrors(t *testing.T, b *tab) {
	for _, c := range []struct {
		path   string
		status int
		says   string
	}{
		{"/policies/1", 404, "no such id"},
		{"/controls/nope", 404, "no such page"},
		{"/hosts?status=bogus", 400, "parameter status"},
		{"/postures?colour=red", 400, "parameter colour"},
		{"/changes?cursor=zzz", 400, "parameter cursor"},
		{"/policies/4100002?csv=nope", 400, "parameter csv"},
	} {
		if st := b.open(c.path); st != c.status {
			t.Errorf("%s: status %d, want %d", c.path, st, c.status)
		}
		if msg := b.text(`main .message`); !strings.Contains(msg, c.says) {
			t.Errorf("%s says %q, want it to say %q", c.path, msg, c.says)
		}
	}
	b.shot("error")
}

// checkLogin logs in through the token page and downloads a CSV with the
// session cookie.
func checkLogin(t *testing.T, b *tab, d *sqlDB) {
	b.open("/hosts")
	if loc := b.location(); !strings.HasPrefix(loc, "/login") {
		t.Fatalf("without the token the dashboard opened %s, not the login page", loc)
	}
	run(b, chromedp.SendKeys(chromedp.CSS(`#token`), "not it"))
	if st := b.click(`form.login button`); st != 401 {
		t.Errorf("a wrong token: status %d, want 401", st)
	}
	if msg := b.text(`.error`); !strings.Contains(msg, "not this server's token") {
		t.Errorf("a wrong token says %q", msg)
	}
	b.shot("login")
	run(b, chromedp.SendKeys(chromedp.CSS(`#token`), "s3cret token"))
	if st := b.click(`form.login button`); st != 200 {
		t.Fatalf("the token: status %d", st)
	}
	if loc := b.location(); loc != "/hosts" {
		t.Errorf("after the login the dashboard opened %s, want the page asked for, /hosts", loc)
	}
	want := d.int(`SELECT count(DISTINCT host_id) FROM postures WHERE stale_run IS NULL`)
	if got := csvRows(t, b.download(`main caption a.csv`)); int64(got) != want {
		t.Errorf("the hosts CSV through the session has %d rows, want %d", got, want)
	}
	if b.count(`form.logout button`) != 1 {
		t.Error("no logout button with a token")
	}
}

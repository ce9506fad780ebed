package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/app"
	"pcsync/internal/server"
)

// A cursor is the client's to send back: one that was edited (a phase or
// rank the list does not have) is a 400 naming the cursor, never a 500.
func TestEditedCursorsAreRefused(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		edited := func(list string, ints []int64, strs ...string) string {
			b, _ := json.Marshal(map[string]any{"l": list, "i": ints, "s": strs})
			return base64.RawURLEncoding.EncodeToString(b)
		}
		for _, url := range []string{
			"/api/v1/changes?cursor=" + edited("changes", []int64{-1, 0}),
			"/api/v1/changes?cursor=" + edited("changes", []int64{3, 0}),
			"/api/v1/changes?cursor=" + edited("changes", []int64{1 << 40, 0}),
			"/api/v1/exceptions?cursor=1700000000." + edited("exceptions", []int64{-1, 0}, "2025-01-01T00:00:00Z"),
			"/api/v1/exceptions?cursor=1700000000." + edited("exceptions", []int64{3, 0}, "2025-01-01T00:00:00Z"),
		} {
			code, body := get(t, ts.URL+url)
			var e struct {
				Parameter string `json:"parameter"`
			}
			if json.Unmarshal(body, &e); code != 400 || e.Parameter != "cursor" {
				t.Errorf("%s: %d %s; want 400 naming the cursor", url, code, body)
			}
		}
	})
}

// The change list's default is the last two finished runs. A client that
// walks it while a sync finishes another run keeps to the runs of its first
// page: the walk is the changes of that pair, none missed, none of the new
// run's mixed in.
func TestChangesWalkKeepsItsRunsWhenASyncFinishes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pcsync.db")
	emu, url, msg := syncTwice(path)
	if msg != "" {
		t.Fatal(msg)
	}
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	runs := db.rows(`SELECT id FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 2`)
	from, to := runs[1][0].(int64), runs[0][0].(int64)
	want := db.rows(`SELECT posture_id FROM history WHERE run_id > ? AND run_id <= ?
		ORDER BY CASE new_status WHEN 'Failed' THEN 0 WHEN 'Error' THEN 1 ELSE 2 END, id`, from, to)
	const limit = 7
	if len(want) <= limit {
		t.Fatalf("only %d changes between runs %d and %d", len(want), from, to)
	}
	var first listPage
	getJSON(t, fmt.Sprintf("%s/api/v1/changes?limit=%d", ts.URL, limit), &first)

	emu.Advance(time.Now()) // statuses flip: the next run has changes of its own
	var out bytes.Buffer
	args := []string{"sync", "--config", filepath.Join(filepath.Dir(path), "pcsync.yaml"), "--gateway", url, "--api", url,
		"--db", path, "--log-level", "error"}
	if code := app.Main(context.Background(), args, app.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}); code != 0 {
		t.Fatalf("third sync: exit %d\n%s", code, out.String())
	}
	if n := db.int(`SELECT count(*) FROM history WHERE run_id > ?`, to); n == 0 {
		t.Fatal("the third run changed nothing")
	}

	items, next := first.Items, first.Next
	for next != nil {
		var p listPage
		getJSON(t, fmt.Sprintf("%s/api/v1/changes?limit=%d&cursor=%s", ts.URL, limit, *next), &p)
		items, next = append(items, p.Items...), p.Next
	}
	if len(items) != len(want) {
		t.Fatalf("the walk has %d changes; runs %d to %d have %d", len(items), from, to, len(want))
	}
	for i, c := range items {
		if num(c["posture_id"]) != want[i][0].(int64) {
			t.Fatalf("change %d is posture %v; SQL of runs %d to %d says %v", i, c["posture_id"], from, to, want[i][0])
		}
	}
}

// A policy's controls are listed worst first, and a sync changes their
// figures while a client walks the list. A control that moves between two
// pages (one not yet shown becomes the worst, one shown becomes the best)
// is neither missed nor shown twice: the walk keeps the order of its first
// page (the dashboard's policy page pages through the same code). A server that does
// not know the walk (it restarted) goes on after the last control shown,
// in the order of the moment.
func TestControlWalkIsStableWhileFiguresChange(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	db := openSQL(t, path)
	policy := db.int(`SELECT policy_id FROM counts_control GROUP BY policy_id ORDER BY count(DISTINCT control_id) DESC LIMIT 1`)
	ts := newServer(t, path, server.Options{})
	list := fmt.Sprintf("%s/api/v1/policies/%d/controls", ts.URL, policy)
	var all []int64
	for _, c := range walk(t, list, 1000) {
		all = append(all, num(c["control_id"]))
	}
	const limit = 5
	if len(all) < 3*limit {
		t.Fatalf("policy %d has %d controls; the test needs %d", policy, len(all), 3*limit)
	}
	rw, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	move := func(worst, best int64) { // as a sync's commit would
		t.Helper()
		if err := rw.Exec(fmt.Sprintf(`UPDATE counts_control SET failed = failed + 1000000 WHERE policy_id = %d AND control_id = %d;
			UPDATE counts_control SET failed = 0, errors = 0, passed = passed + 1 WHERE policy_id = %[1]d AND control_id = %[3]d`,
			policy, worst, best)); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(p listPage) (out []int64) {
		for _, c := range p.Items {
			out = append(out, num(c["control_id"]))
		}
		return out
	}

	var first listPage
	getJSON(t, fmt.Sprintf("%s?limit=%d", list, limit), &first)
	move(all[2*limit], all[1])
	walked, next := ids(first), first.Next
	for next != nil {
		var p listPage
		getJSON(t, fmt.Sprintf("%s?limit=%d&cursor=%s", list, limit, *next), &p)
		walked, next = append(walked, ids(p)...), p.Next
		if next != nil && len(walked) == 2*limit {
			move(all[len(all)-1], all[limit]) // again, in the middle of the walk
		}
	}
	if !slices.Equal(walked, all) {
		t.Errorf("the API's walk: %v\nits first page's order: %v", walked, all)
	}

	// a cursor of this walk sent to another policy's list, or edited: a 400 naming the cursor
	getJSON(t, fmt.Sprintf("%s?limit=%d", list, limit), &first)
	another := db.int(`SELECT min(policy_id) FROM counts_control WHERE policy_id <> ?`, policy)
	for _, url := range []string{
		fmt.Sprintf("%s/api/v1/policies/%d/controls?cursor=%s", ts.URL, another, *first.Next),
		fmt.Sprintf("%s?cursor=%s", list, strings.Replace(*first.Next, fmt.Sprintf(".%d.", limit), ".99999.", 1)),
		fmt.Sprintf("%s?cursor=%s", list, "0.5.1.1.1000"),
		fmt.Sprintf("%s?cursor=%s", list, "zz.5.1.1.1000"),
	} {
		code, body := get(t, url)
		var e struct {
			Parameter string `json:"parameter"`
		}
		if json.Unmarshal(body, &e); code != 400 || e.Parameter != "cursor" {
			t.Errorf("%s: %d %s; want 400 naming the cursor", url, code, body)
		}
	}

	// a server that does not know the walk
	var now []int64
	for _, c := range walk(t, list, 1000) {
		now = append(now, num(c["control_id"]))
	}
	other := newServer(t, path, server.Options{})
	var p listPage
	getJSON(t, fmt.Sprintf("%s/api/v1/policies/%d/controls?limit=%d&cursor=%s", other.URL, policy, limit, *first.Next), &p)
	if got := ids(p); !slices.Equal(got, now[limit:2*limit]) {
		t.Errorf("a server that does not know the walk: %v; want the controls after the last shown, %v", got, now[limit:2*limit])
	}
}

// TestChangesBetweenAnyTwoRuns: the change list compares the runs asked
// for. to alone compares it with the finished run before it (the default
// is the last two), and the changes page's "Before the first run" lists
// every change up to the run chosen, in its table and its CSV download.
func TestChangesBetweenAnyTwoRuns(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	option := regexp.MustCompile(`<option value="([^"]*)"[^>]*>Before the first run</option>`)
	csvLink := regexp.MustCompile(`<a class="csv" href="([^"]+)"`)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		_, body := get(t, ts.URL+"/changes")
		start := option.FindSubmatch(body)
		if start == nil {
			t.Fatal("the changes page offers no 'Before the first run'")
		}
		for _, r := range db.rows(`SELECT id FROM runs WHERE finished_at IS NOT NULL AND status <> 'abandoned' ORDER BY id`) {
			to := r[0].(int64)
			prev := db.int(`SELECT coalesce(max(id), 0) FROM runs WHERE id < ? AND finished_at IS NOT NULL AND status <> 'abandoned'`, to)
			url := fmt.Sprintf("%s/api/v1/changes?to=%d&format=csv", ts.URL, to)
			code, data := get(t, url)
			if want := db.int(`SELECT count(*) FROM history WHERE run_id > ? AND run_id <= ?`, prev, to); code != http.StatusOK ||
				int64(csvRows(t, data)) != want {
				t.Errorf("%s: %d, %.200s; SQL counts %d changes after run %d", url, code, data, want, prev)
			}
			page := fmt.Sprintf("%s/changes?from=%s&to=%d", ts.URL, start[1], to)
			code, body := get(t, page)
			if code != http.StatusOK || !strings.Contains(string(body), "changed after the start up to") {
				t.Errorf("%s: %d, not the changes since the start: %.300s", page, code, body)
				continue
			}
			want := db.int(`SELECT count(*) FROM history WHERE run_id <= ?`, to)
			if n := strings.Count(string(body), `<td>`+`<span class="d">`); n != int(min(want, 50)) {
				t.Errorf("%s: %d changes shown, SQL counts %d up to run %d", page, n, want, to)
			}
			c := csvLink.FindSubmatch(body)
			if c == nil {
				t.Fatalf("%s: no CSV download", page)
			}
			if _, data := get(t, ts.URL+html.UnescapeString(string(c[1]))); int64(csvRows(t, data)) != want {
				t.Errorf("%s downloads %d changes, SQL counts %d up to run %d", page, csvRows(t, data), want, to)
			}
		}
	})
}

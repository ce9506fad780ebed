package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
			"/api/v1/exceptions?cursor=" + edited("exceptions", []int64{-1, 0}, "2025-01-01T00:00:00Z"),
			"/api/v1/exceptions?cursor=" + edited("exceptions", []int64{2, 0}, "2025-01-01T00:00:00Z"),
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

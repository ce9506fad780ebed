package server_test

import (
	"fmt"
	"html"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/server"
	"pcsync/internal/store/sqlite"
)

// TestFailingValuesFromIndexOrDocuments: the control page's groups are
// read from the fail_value the sync keeps; a row without it (a value too
// long to keep, a row copied in by migrate) is grouped from its documents,
// and the two ways give the same groups. Half the failing postures of a
// copy of the test database lose their fail_value; every failing control's
// groups, over all policies and per policy, must not change.
func TestFailingValuesFromIndexOrDocuments(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	if kept := db.int(`SELECT count(*) FROM postures WHERE status = 'Failed' AND fail_value IS NOT NULL`); kept == 0 {
		t.Fatal("the sync kept no fail_value: the index path is not exercised")
	}
	if bad := db.int(`SELECT count(*) FROM postures WHERE status <> 'Failed' AND fail_value IS NOT NULL`); bad != 0 {
		t.Fatalf("%d postures that are not failing have a fail_value", bad)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := db.conn.Exec(`VACUUM INTO '` + cp + `'`); err != nil {
		t.Fatal(err)
	}
	conn, err := sqlite3.Open(cp)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Exec(`UPDATE postures SET fail_value = NULL WHERE id % 2 = 0`)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	a, err := sqlite.OpenReader(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.OpenReader(t.Context(), cp, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pairs := db.rows(`SELECT DISTINCT control_id, policy_id FROM postures WHERE status = 'Failed' AND stale_run IS NULL ORDER BY 1, 2`)
	for _, pc := range pairs {
		for _, policy := range []int64{0, pc[1].(int64)} {
			control := pc[0].(int64)
			want, err := a.FailingValues(t.Context(), control, policy, 1000)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.FailingValues(t.Context(), control, policy, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("control %d, policy %d: from the index %+v; half from the documents %+v", control, policy, want, got)
			}
		}
	}
}

// Policies may expect different values of one control on one technology:
// the control page shows each failing posture its own policy's expected
// value (where its evidence does not say), and the API gives each
// policy's texts beside the merged ones.
func TestEachPolicyShowsItsOwnExpectedValue(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	db := openSQL(t, path)
	control := db.int(`SELECT control_id FROM postures WHERE status = 'Failed' AND stale_run IS NULL
		GROUP BY control_id HAVING count(DISTINCT policy_id) > 1 ORDER BY count(*) DESC LIMIT 1`)
	if control == 0 {
		t.Fatal("no control fails in two policies")
	}
	conn, err := sqlite3.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Exec(fmt.Sprintf(`UPDATE policy_control_technologies SET evaluate = 'P' || policy_id || '-T' || technology_id WHERE control_id = %d`, control))
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	ts := newServer(t, path, server.Options{})
	var v struct {
		Policies []struct {
			PolicyID     int64 `json:"policy_id"`
			Technologies []struct {
				ID       int64  `json:"id"`
				Expected string `json:"expected"`
			} `json:"technologies"`
		} `json:"policies"`
	}
	getJSON(t, fmt.Sprintf("%s/api/v1/controls/%d", ts.URL, control), &v)
	for _, p := range v.Policies {
		want := db.int(`SELECT count(*) FROM policy_control_technologies WHERE policy_id = ? AND control_id = ?`, p.PolicyID, control)
		own := 0
		for _, tech := range p.Technologies {
			if tech.Expected == fmt.Sprintf("P%d-T%d", p.PolicyID, tech.ID) {
				own++
			} else if tech.Expected != "" {
				t.Errorf("policy %d, technology %d: expected %q, another policy's", p.PolicyID, tech.ID, tech.Expected)
			}
		}
		if int64(own) != want {
			t.Errorf("policy %d: %d technologies with its own expected value, SQL has %d", p.PolicyID, own, want)
		}
	}
	row := regexp.MustCompile(`<a href="/policies/(\d+)">[^<]*</a></td>\s*<td>[^<]*(?:<span[^>]*>[^<]*</span>)?</td>\s*<td[^>]*>[^<]*</td>\s*<td><div class="evidence"><div class="exp"><h4>Expected</h4><code>(P(\d+)-T\d+)</code>`)
	shown := 0
	for next := fmt.Sprintf("/controls/%d", control); next != ""; {
		_, body := get(t, ts.URL+next)
		for _, m := range row.FindAllSubmatch(body, -1) {
			shown++
			if string(m[1]) != string(m[3]) {
				t.Errorf("a failing posture of policy %s shows %s, another policy's expected value", m[1], m[2])
			}
		}
		next = ""
		if m := regexp.MustCompile(`<a[^>]* href="(/controls/[^"]*cursor=[^"]*)"`).FindSubmatch(body); m != nil {
			next = html.UnescapeString(string(m[1]))
		}
	}
	if shown == 0 {
		t.Fatal("no failing posture showed a policy's expected value")
	}
}

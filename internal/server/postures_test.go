package server_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// postureIDs is the API's list of posture ids, page by page.
func postureIDs(t *testing.T, url string, limit int) []int64 {
	t.Helper()
	var ids []int64
	for _, p := range walk(t, url, limit) {
		ids = append(ids, num(p["id"]))
	}
	return ids
}

func TestPosturesPagedEqualUnpagedEqualSQL(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		policy := db.int(`SELECT min(policy_id) FROM postures`)
		host := db.int(`SELECT host_id FROM postures GROUP BY host_id ORDER BY count(*) DESC LIMIT 1`)
		control := db.int(`SELECT control_id FROM postures GROUP BY control_id ORDER BY count(*) DESC LIMIT 1`)
		tech := db.int(`SELECT technology_id FROM postures GROUP BY technology_id ORDER BY count(*) LIMIT 1`)
		framework := db.int(`SELECT min(framework_id) FROM control_frameworks`)
		since := db.rows(`SELECT posture_modified_date FROM postures ORDER BY posture_modified_date DESC LIMIT 1 OFFSET 50`)[0][0].(string)
		order := ` ORDER BY policy_id, host_id, control_id, technology_id, instance, id`
		for _, tc := range []struct {
			query, where string
			args         []any
		}{
			{"", "1", nil},
			{fmt.Sprint("policy=", policy), "policy_id = ?", []any{policy}},
			{fmt.Sprint("host=", host), "host_id = ?", []any{host}},
			{fmt.Sprint("control=", control), "control_id = ?", []any{control}},
			{fmt.Sprint("policy=", policy, "&control=", control, "&status=Failed"), "policy_id = ? AND control_id = ? AND status = 'Failed'", []any{policy, control}},
			{fmt.Sprint("host=", host, "&policy=", policy), "host_id = ? AND policy_id = ?", []any{host, policy}},
			{"status=Error", "status = 'Error'", nil},
			{fmt.Sprint("technology=", tech), "technology_id = ?", []any{tech}},
			{"since=" + since, "posture_modified_date >= ?", []any{since}},
			// a fraction of a second: the postures of that second are before it
			{"since=" + strings.TrimSuffix(since, "Z") + ".5Z", "posture_modified_date > ?", []any{since}},
			{"criticality=SERIOUS", "criticality_label = 'SERIOUS'", nil},
			{"criticality=4&status=Failed", "criticality_label = 'CRITICAL' AND status = 'Failed'", nil},
			{fmt.Sprint("framework=", framework), "control_id IN (SELECT control_id FROM control_frameworks WHERE framework_id = ?)", []any{framework}},
		} {
			t.Run(tc.query, func(t *testing.T) {
				var want []int64
				for _, r := range db.rows(`SELECT id FROM postures WHERE stale_run IS NULL AND `+tc.where+order, tc.args...) {
					want = append(want, r[0].(int64))
				}
				if len(want) == 0 {
					t.Fatal("the filter selects nothing: the test proves nothing")
				}
				paged := postureIDs(t, ts.URL+"/api/v1/postures?"+tc.query, 17)
				if fmt.Sprint(paged) != fmt.Sprint(want) {
					t.Fatalf("paged list (%d) differs from SQL (%d)", len(paged), len(want))
				}
				code, body := get(t, ts.URL+"/api/v1/postures?format=ndjson&"+tc.query)
				if lines := bytes.Count(body, []byte("\n")); code != http.StatusOK || lines != len(want) {
					t.Fatalf("ndjson: %d, %d lines, want %d", code, lines, len(want))
				}
				code, body = get(t, ts.URL+"/api/v1/postures?format=csv&"+tc.query)
				recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
				if err != nil || code != http.StatusOK || len(recs)-1 != len(want) {
					t.Fatalf("csv: %d, %v, %d rows, want %d", code, err, len(recs)-1, len(want))
				}
				if h := strings.Join(recs[0], ","); !strings.HasPrefix(h, "id,policy_id,host_id,control_id,technology.id,technology.name,instance,status") ||
					!strings.Contains(h, "exception.end_date") {
					t.Fatalf("csv header %s", h)
				}
			})
		}
	})
}

func TestEveryListStreamsWholeAsCSVAndNDJSON(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db := openSQL(t, path)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		policy := db.int(`SELECT min(policy_id) FROM postures`)
		for _, url := range []string{"/api/v1/policies", "/api/v1/hosts", fmt.Sprintf("/api/v1/policies/%d/controls", policy),
			"/api/v1/frameworks", "/api/v1/runs", "/api/v1/changes", "/api/v1/trend", "/api/v1/exceptions", "/api/v1/hosts?status=Failed"} {
			items := walk(t, ts.URL+url, 5)
			sep := "?"
			if strings.Contains(url, "?") {
				sep = "&"
			}
			_, body := get(t, ts.URL+url+sep+"format=csv")
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil || len(recs)-1 != len(items) || len(items) == 0 {
				t.Errorf("%s: %d items, csv %d rows (%v)", url, len(items), len(recs)-1, err)
			}
			_, body = get(t, ts.URL+url+sep+"format=ndjson")
			n := 0
			for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); n++ {
			}
			if n != len(items) {
				t.Errorf("%s: %d items, ndjson %d lines", url, len(items), n)
			}
		}
	})
}

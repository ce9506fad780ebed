package emulator_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

func (f *fixture) classic(t *testing.T, path string, form url.Values, requestedWith bool) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.ts.URL+"/api/2.0/fo/compliance/"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("pcsync", "emulator")
	if requestedWith {
		req.Header.Set("X-Requested-With", "test")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestClassicErrorsAndHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: 100, Window: time.Hour, Concurrency: 2}})
	pol := f.est.Policies()[0].ID
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	for _, tc := range []struct {
		name     string
		path     string
		form     url.Values
		noHeader bool
		status   int
		code     string
	}{
		{"no X-Requested-With", "policy/", url.Values{"action": {"list"}}, true, 400, "<CODE>1903</CODE>"},
		{"unknown parameter", "policy/", url.Values{"action": {"list"}, "foo": {"1"}}, false, 400, "<CODE>1901</CODE>"},
		{"missing action", "control/", url.Values{}, false, 400, "<CODE>1903</CODE>"},
		{"missing policy_id", "posture/info/", url.Values{"action": {"list"}}, false, 400, "<CODE>1903</CODE>"},
		{"policy_id and policy_ids", "posture/info/", url.Values{"action": {"list"}, "policy_id": {"1"}, "policy_ids": {"1"}}, false, 400, "<CODE>1904</CODE>"},
		{"bad policy id", "posture/info/", url.Values{"action": {"list"}, "policy_id": {"abc"}}, false, 400, "<CODE>1905</CODE>"},
		{"extended without evidence", "posture/info/", url.Values{"action": {"list"}, "policy_id": {id(pol)}, "show_extended_evidence": {"1"}, "hide_evidence": {"1"}}, false, 400, "<CODE>1907</CODE>"},
		{"export without id", "policy/", url.Values{"action": {"export"}}, false, 400, "<CODE>1903</CODE>"},
		{"policy list", "policy/", url.Values{"action": {"list"}, "details": {"All"}}, false, 200, "<POLICY_LIST_OUTPUT>"},
		{"policy export", "policy/", url.Values{"action": {"export"}, "id": {id(pol)}, "show_appendix": {"1"}}, false, 200, "<APPENDIX>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.classic(t, tc.path, tc.form, !tc.noHeader)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.code) {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, "<!DOCTYPE ") {
				t.Fatalf("no DOCTYPE: %.200s", body)
			}
			for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Window-Sec", "X-RateLimit-Remaining",
				"X-RateLimit-ToWait-Sec", "X-Concurrency-Limit-Limit", "X-Concurrency-Limit-Running"} {
				if resp.Header.Get(h) == "" {
					t.Fatalf("answer without %s", h)
				}
			}
		})
	}
	resp, _ := f.classic(t, "policy/", url.Values{"action": {"list"}}, true)
	if resp.Header.Get("X-RateLimit-Limit") != "100" || resp.Header.Get("X-RateLimit-Window-Sec") != "3600" {
		t.Fatalf("limit headers %v", resp.Header)
	}
}

func TestClassicPagingCoversEveryRecordOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	pol := f.est.Policies()[0].ID
	form := url.Values{"action": {"list"}, "policy_id": {strconv.FormatInt(pol, 10)}, "truncation_limit": {"7"}}
	seen := map[string]bool{}
	for pages := 0; ; pages++ {
		_, body := f.classic(t, "posture/info/", form, true)
		for _, part := range strings.Split(body, "<INFO><ID>")[1:] {
			id := part[:strings.Index(part, "<")]
			if seen[id] {
				t.Fatalf("record %s on two pages", id)
			}
			seen[id] = true
		}
		i := strings.Index(body, "id_min=")
		if i < 0 {
			break
		}
		next := body[i+7:]
		form.Set("id_min", next[:strings.IndexAny(next, "&]")])
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
	}
	if want := f.est.Counts(pol).Records; int64(len(seen)) != want {
		t.Fatalf("%d records over all pages, the policy has %d", len(seen), want)
	}
}

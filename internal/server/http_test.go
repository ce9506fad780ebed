package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"pcsync/internal/server"
)

// Every answer carries the security headers: pages, API answers, errors,
// static files, downloads, the login page and refusals.
func TestEveryAnswerHasTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	for _, token := range []string{"", "tok"} {
		ts := newServer(t, path, server.Options{Token: token})
		for _, url := range []string{"/", "/hosts", "/nowhere", "/static/style.css", "/login", "/healthz", "/metrics",
			"/api/v1/summary", "/api/v1/postures?format=csv", "/api/v1/postures?bogus=1", "/api/v1/nothing", "/api/v1/hosts/1"} {
			resp, err := http.Get(ts.URL + url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") ||
				h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
				t.Errorf("token %q, %s (%d): headers %v", token, url, resp.StatusCode, h)
			}
		}
	}
}

// /metrics is Prometheus text, every metric named pcsync_*, with the sync's
// figures from the ledger.
func TestMetricsComeFromTheLedger(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	get(t, ts.URL+"/api/v1/summary") // a request to count
	// made-up methods: one series for all of them, not one each
	for i := range 3 {
		req, _ := http.NewRequest(fmt.Sprintf("X%d", i), ts.URL+"/api/v1/summary", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	code, body := get(t, ts.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	values := map[string]string{}
	for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "pcsync_") {
			t.Errorf("metric not named pcsync_*: %s", line)
		}
		name, value, _ := strings.Cut(line, " ")
		values[name] = value
	}
	last := db.rows(`SELECT id, records, passed, failed, errors, rejects, throttles, retries, CAST(strftime('%s', finished_at) AS INTEGER)
		FROM runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1`)[0]
	for name, want := range map[string]any{
		"pcsync_sync_last_run_records":                                     last[1],
		`pcsync_sync_last_run_postures{status="passed"}`:                   last[2],
		`pcsync_sync_last_run_postures{status="failed"}`:                   last[3],
		`pcsync_sync_last_run_postures{status="error"}`:                    last[4],
		"pcsync_sync_last_run_rejects":                                     last[5],
		"pcsync_sync_last_run_throttles":                                   last[6],
		"pcsync_sync_last_run_retries":                                     last[7],
		"pcsync_sync_running":                                              int64(0),
		`pcsync_postures{status="failed"}`:                                 db.figures("1").failed,
		`pcsync_sync_last_run_info{mode="incremental",status="succeeded"}`: int64(1),
	} {
		if values[name] != fmt.Sprint(want) {
			t.Errorf("%s = %q, the ledger says %v", name, values[name], want)
		}
	}
	var ts0 float64
	fmt.Sscan(values["pcsync_sync_last_success_timestamp_seconds"], &ts0)
	if int64(ts0) != last[8].(int64) {
		t.Errorf("last success at %v, the ledger says %v", ts0, last[8])
	}
	if !strings.Contains(string(body), `pcsync_http_requests_total{code="200",method="GET",route="GET /api/v1/summary"} 1`) ||
		!strings.Contains(string(body), `pcsync_http_request_duration_seconds_bucket{route="GET /api/v1/summary"`) ||
		!strings.Contains(string(body), `method="other"`) || strings.Contains(string(body), `method="X`) {
		t.Errorf("request metrics missing:\n%s", body)
	}
}

// Every link on the dashboard's pages leads somewhere that answers: the
// figures' lists, the CSV downloads, the next pages.
func TestEveryLinkOfThePagesAnswers(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	policy, control, host := db.int(`SELECT min(policy_id) FROM postures`), db.int(`SELECT min(control_id) FROM postures`),
		db.int(`SELECT min(host_id) FROM postures`)
	hrefRE := regexp.MustCompile(`href="(/[^"]*)"`)
	seen := map[string]bool{}
	for _, page := range []string{"/", fmt.Sprintf("/policies/%d", policy), fmt.Sprintf("/controls/%d?policy=%d", control, policy),
		fmt.Sprintf("/hosts/%d", host), "/changes", "/runs", "/exceptions", "/frameworks", "/hosts", "/postures"} {
		code, body := get(t, ts.URL+page)
		if code != http.StatusOK {
			t.Fatalf("%s: %d", page, code)
		}
		for _, m := range hrefRE.FindAllStringSubmatch(string(body), -1) {
			link := html.UnescapeString(m[1])
			if seen[link] || strings.HasPrefix(link, "/static/") {
				continue
			}
			seen[link] = true
			if code, body := get(t, ts.URL+link); code != http.StatusOK {
				t.Errorf("%s links to %s: %d %.120s", page, link, code, body)
			}
		}
	}
	if len(seen) < 50 {
		t.Fatalf("only %d links followed", len(seen))
	}
}

// A route asked with a method it does not answer is 405 with the methods it
// does, not a 404 that says the route does not exist; what does not exist
// (the static directory's listing among them) is 404.
func TestAnotherMethodIs405(t *testing.T) {
	t.Parallel()
	ts := newServer(t, testDB(t), server.Options{})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/api/v1/summary", "GET, HEAD"},
		{http.MethodDelete, "/api/v1/hosts/1", "GET, HEAD"},
		{http.MethodPut, "/login", "GET, HEAD, POST"},
		{http.MethodGet, "/logout", "POST"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPost, "/hosts", "GET, HEAD"},
		{http.MethodPost, "/api/v1/nothing", ""},
		{http.MethodPut, "/nothing", ""},
		{http.MethodGet, "/static/", ""}, // files, not a listing of them
		{http.MethodGet, "/static/missing.css", ""},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := http.StatusMethodNotAllowed
		if tc.allow == "" {
			want = http.StatusNotFound
		}
		if resp.StatusCode != want || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want %d, Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), want, tc.allow)
		}
		// a page's 404 is the dashboard's page, an API's a JSON error
		if ct := resp.Header.Get("Content-Type"); want == http.StatusNotFound && !strings.HasPrefix(ct, "text/html") && !strings.HasPrefix(tc.path, "/api/") {
			t.Errorf("%s %s: a 404 of type %q, not the dashboard's page", tc.method, tc.path, ct)
		}
	}
}

// Without a token the server answers only requests for a loopback name:
// a web page elsewhere that points its own name at 127.0.0.1 (DNS
// rebinding) cannot read it. With a token, the token decides.
func TestWithoutATokenOnlyLoopbackNamesAreAnswered(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	open := newServer(t, path, server.Options{})
	locked := newServer(t, path, server.Options{Token: "s3cret-token"})
	for _, tc := range []struct {
		host          string
		open, withTok int
	}{
		{"", 200, 200}, // the listener's own address
		{"localhost", 200, 200},
		{"LOCALHOST:8080", 200, 200},
		{"pcsync.localhost:8080", 200, 200},
		{"127.0.0.1", 200, 200},
		{"127.9.9.9:80", 200, 200},
		{"[::1]:8080", 200, 200},
		{"attacker.example.com", 421, 200},
		{"127.0.0.1.attacker.example.com", 421, 200},
		{"localhost.attacker.example.com:8080", 421, 200},
		{"10.0.0.5:8080", 421, 200},
		{"[::ffff:10.0.0.5]", 421, 200},
	} {
		for _, srv := range []struct {
			url  string
			want int
		}{{open.URL, tc.open}, {locked.URL, tc.withTok}} {
			for _, p := range []string{"/api/v1/summary", "/", "/healthz"} {
				req, _ := http.NewRequest(http.MethodGet, srv.url+p, nil)
				if tc.host != "" {
					req.Host = tc.host
				}
				req.Header.Set("Authorization", "Bearer s3cret-token")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != srv.want {
					t.Errorf("Host %q, %s (token %v): %d; want %d: %.200s", tc.host, p, srv.url == locked.URL, resp.StatusCode, srv.want, body)
				}
				if resp.StatusCode == 421 && !strings.Contains(string(body), "set a token (PCSYNC_SERVE_TOKEN)") {
					t.Errorf("Host %q: the refusal does not say what to do: %s", tc.host, body)
				}
			}
		}
	}
}

// HEAD answers what GET would, headers only: the same status and type, a
// download's file name, and no body (a download's rows are not read).
func TestHeadAnswersTheHeadersOfAGet(t *testing.T) {
	t.Parallel()
	ts := newServer(t, testDB(t), server.Options{})
	for _, path := range []string{"/api/v1/summary", "/api/v1/postures?status=Failed&format=csv", "/api/v1/hosts?format=ndjson",
		"/api/v1/postures?format=csv&limit=3", "/", "/hosts", "/api/v1/nothing"} {
		resp := map[string]*http.Response{}
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(m, ts.URL+path, nil)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if m == http.MethodHead && len(body) != 0 {
				t.Errorf("HEAD %s sent a body of %d bytes", path, len(body))
			}
			resp[m] = r
		}
		g, h := resp[http.MethodGet], resp[http.MethodHead]
		for _, k := range []string{"Content-Type", "Content-Disposition", "Cache-Control"} {
			if g.Header.Get(k) != h.Header.Get(k) {
				t.Errorf("%s: GET's %s is %q, HEAD's %q", path, k, g.Header.Get(k), h.Header.Get(k))
			}
		}
		if g.StatusCode != h.StatusCode {
			t.Errorf("%s: GET %d, HEAD %d", path, g.StatusCode, h.StatusCode)
		}
	}
}

// The database file removed while serving: the health check says so every
// time, and a download that fails before its first row answers an error
// rather than an empty reply; the file back, both answer again.
func TestServingARemovedDatabase(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	ts := newServer(t, path, server.Options{})
	if code, _ := get(t, ts.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz: %d", code)
	}
	kept := path + ".kept"
	if err := os.Rename(path, kept); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if code, body := get(t, ts.URL+"/healthz"); code != http.StatusServiceUnavailable {
			t.Errorf("healthz without the file: %d %s; want 503", code, body)
		}
	}
	for _, format := range []string{"json", "csv", "ndjson"} {
		code, body := get(t, ts.URL+"/api/v1/hosts?format="+format)
		var e struct{ Error string }
		if code != http.StatusInternalServerError || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("hosts as %s without the file: %d %q; want 500 with a JSON error", format, code, body)
		}
	}
	if err := os.Rename(kept, path); err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, ts.URL+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz with the file back: %d", code)
	}
	if code, body := get(t, ts.URL+"/api/v1/hosts?format=csv"); code != http.StatusOK || !bytes.HasPrefix(body, []byte("id,")) {
		t.Errorf("hosts as CSV with the file back: %d %.60q", code, body)
	}
}

package server_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pcsync/internal/server"
)

// After the login the browser goes back to the page it asked for, on this
// server only: a next that a browser would read as another site (browsers
// drop tabs and newlines from a URL, and read a backslash as a slash) is
// replaced by the overview.
func TestLoginRedirectsOnlyToThisServer(t *testing.T) {
	t.Parallel()
	ts := newServer(t, testDB(t), server.Options{Token: "s3cret-token"})
	login := func(next string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/login",
			strings.NewReader(url.Values{"token": {"s3cret-token"}, "next": {next}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req) // the Location as sent, not followed
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, next := range []string{"//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
		"/\r/evil.example", "\t//evil.example", "/\t\\evil.example", "https://evil.example/"} {
		resp := login(next)
		loc := resp.Header.Get("Location")
		// what a browser makes of it (the WHATWG URL parser strips tabs and
		// newlines, and takes a backslash for a slash)
		seen := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(loc)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(seen, "/") || strings.HasPrefix(seen, "//") {
			t.Errorf("next %q: %d to %q; want a path of this server", next, resp.StatusCode, loc)
		}
	}
	if loc := login("/policies/1?status=Failed").Header.Get("Location"); loc != "/policies/1?status=Failed" {
		t.Errorf("next /policies/1?status=Failed: redirected to %q", loc)
	}
}

// The scheme of an Authorization header is case-insensitive (RFC 9110
// 11.1): a client that sends "bearer TOKEN" is let in, a wrong token is not.
func TestBearerSchemeIgnoresCase(t *testing.T) {
	t.Parallel()
	ts := newServer(t, testDB(t), server.Options{Token: "s3cret-token"})
	for _, h := range []string{"bearer s3cret-token", "BEARER s3cret-token", "Bearer  s3cret-token"} {
		if code, body := get(t, ts.URL+"/api/v1/summary", "Authorization", h); code != http.StatusOK {
			t.Errorf("Authorization: %s: %d %.80s", h, code, body)
		}
	}
	for _, h := range []string{"bearer wrong", "Basic s3cret-token", "Bearers3cret-token"} {
		if code, _ := get(t, ts.URL+"/api/v1/summary", "Authorization", h); code != http.StatusUnauthorized {
			t.Errorf("Authorization: %s: %d, want 401", h, code)
		}
	}
}

// A browser's session is its own: a logout ends it for whoever holds the
// cookie, another login gets another cookie, and a session ends twelve
// hours after its login.
func TestSessionsEndAtLogoutAndExpire(t *testing.T) {
	t.Parallel()
	var later atomic.Int64 // how far the server's clock is ahead
	ts := newServer(t, testDB(t), server.Options{Token: "s3cret-token",
		Now: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }})
	send := func(method, path, cookie string, form url.Values) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "pcsync_session", Value: cookie})
		}
		resp, err := http.DefaultTransport.RoundTrip(req) // not followed
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	login := func() string {
		t.Helper()
		for _, c := range send(http.MethodPost, "/login", "", url.Values{"token": {"s3cret-token"}}).Cookies() {
			if c.Name == "pcsync_session" && c.MaxAge == 12*3600 {
				return c.Value
			}
		}
		t.Fatal("the login set no session cookie of 12 hours")
		return ""
	}
	summary := func(cookie string) int { return send(http.MethodGet, "/api/v1/summary", cookie, nil).StatusCode }
	first, second := login(), login()
	if first == second || summary(first) != http.StatusOK || summary(second) != http.StatusOK {
		t.Fatalf("two logins: cookies %q and %q, answers %d and %d; want two sessions that both work",
			first, second, summary(first), summary(second))
	}
	if resp := send(http.MethodPost, "/logout", first, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if code := summary(first); code != http.StatusUnauthorized {
		t.Errorf("the cookie of a session logged out: %d, want 401", code)
	}
	if code := summary(second); code != http.StatusOK {
		t.Errorf("another browser's session after the first logged out: %d, want 200", code)
	}
	forged := second[:len(second)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(second, "0")]
	if code := summary(forged); code != http.StatusUnauthorized {
		t.Errorf("a cookie with its signature changed: %d, want 401", code)
	}
	later.Store(int64(12*time.Hour + time.Second))
	if code := summary(second); code != http.StatusUnauthorized {
		t.Errorf("a session twelve hours after its login: %d, want 401", code)
	}
}

// Wrong tokens are limited per address: after ten, every token from that
// address is refused (429, the right one too, so guessing goes no
// faster) until time gives one back; another address is not held up.
func TestWrongTokensAreLimitedPerAddress(t *testing.T) {
	t.Parallel()
	var later atomic.Int64
	ts := newServer(t, testDB(t), server.Options{Token: "s3cret-token",
		Now: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }})
	from := func(local string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	one, two := from("127.0.0.1"), from("127.0.0.2")
	bearer := func(c *http.Client, token string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/api/v1/summary", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 10 {
		if code := bearer(one, "wrong").StatusCode; code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, code)
		}
	}
	if resp := bearer(one, "s3cret-token"); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("the right token after ten wrong ones: %d, Retry-After %q; want 429 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, err := one.PostForm(ts.URL+"/login", url.Values{"token": {"s3cret-token"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a login after ten wrong tokens: %d, want 429", resp.StatusCode)
	}
	if code := bearer(two, "s3cret-token").StatusCode; code != http.StatusOK {
		t.Errorf("the right token from another address: %d, want 200", code)
	}
	later.Store(int64(7 * time.Second))
	if code := bearer(one, "s3cret-token").StatusCode; code != http.StatusOK {
		t.Errorf("the right token once time gave one back: %d, want 200", code)
	}
}

// The login page offers no logout to a browser that is not signed in; a
// logout without a session goes to the login page, and a login asked to
// go back to the logout goes to the overview (not to a 405).
func TestLogoutOnlyWhereItMeansSomething(t *testing.T) {
	t.Parallel()
	ts := newServer(t, testDB(t), server.Options{Token: "s3cret-token"})
	if code, body := get(t, ts.URL+"/login"); code != http.StatusOK || strings.Contains(string(body), `action="/logout"`) {
		t.Errorf("login page: %d; want no logout form\n%.400s", code, body)
	}
	post := func(path string, form url.Values) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("/logout", nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout without a session: %d to %q; want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, next := range []string{"/logout", "/logout?x=1", "/login?next=%2Flogout"} {
		resp := post("/login", url.Values{"token": {"s3cret-token"}, "next": {next}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("login with next %s: %d to %q; want 303 to /", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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

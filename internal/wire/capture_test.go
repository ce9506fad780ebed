package wire

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCookiesAndCredentialsNeverReachTheDisk captures a call that sends
// Basic credentials and a session cookie and gets a cookie back.
func TestCookiesAndCredentialsNeverReachTheDisk(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "QualysSession", Value: "srv-session-7f3a9"})
		io.WriteString(w, "<SIMPLE_RETURN/>")
	}))
	defer ts.Close()
	dir, client := captureClient(t, "pw-9x!")
	req, _ := http.NewRequest("POST", ts.URL+"/api/2.0/fo/compliance/policy/", strings.NewReader("action=list&password=pw-9x%21"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("user", "pw-9x!")
	req.AddCookie(&http.Cookie{Name: "QualysSession", Value: "cli-session-51b2c"})
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "<SIMPLE_RETURN/>" {
		t.Fatalf("the client got %q", b)
	}
	resp.Body.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, secret := range []string{"srv-session-7f3a9", "cli-session-51b2c", "pw-9x", "dXNlcjpwdy05eCE="} {
			if strings.Contains(string(b), secret) {
				t.Fatalf("%s holds %q:\n%s", f, secret, b)
			}
		}
	}
	if _, err := NewCapture(dir, "", nil); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second capture into the same directory: %v", err)
	}
}

// The gateway's token never reaches the disk: not when the login is
// redirected (a 308 from /auth to /auth/ answers the token on another
// path), not when the password is a part of the token (replacing the
// password first left the rest of the token to read), and not in a header
// of another name. (Answer bodies other than the login's are kept as
// received, gzip included: they are what a replay serves.)
func TestTheTokenNeverReachesTheDisk(t *testing.T) {
	t.Parallel()
	const token = "eyJhbGciOiJIUzUxMiJ9.pw.J9.secretsignature"
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/auth/", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("POST /auth/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, token)
	})
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Echo"))
		io.WriteString(w, "ok")
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	dir, client := captureClient(t, "J9.")
	resp, err := client.Post(ts.URL+"/auth", "application/x-www-form-urlencoded", strings.NewReader("username=u&password=J9."))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != token {
		t.Fatalf("the client got %q, not the token", b)
	}
	resp.Body.Close()
	req, _ := http.NewRequest("GET", ts.URL+"/data", nil)
	req.Header.Set("X-Echo", token) // headers that carry the token by another name
	if resp, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, secret := range []string{"secretsignature", "J9.", "eyJhbGciOiJIUzUxMiJ9"} {
			if strings.Contains(string(b), secret) {
				t.Errorf("%s holds %q:\n%s", f, secret, b)
			}
		}
	}
}

// captureClient is a client whose exchanges are captured into a new
// directory, with password as the secret it knows first.
func captureClient(t *testing.T, password string) (string, *http.Client) {
	t.Helper()
	dir := t.TempDir()
	c, err := NewCapture(dir, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir, &http.Client{Transport: c.Wrap(http.DefaultTransport)}
}

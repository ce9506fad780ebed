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
	dir := t.TempDir()
	c, err := NewCapture(dir, "pw-9x!", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: c.Wrap(http.DefaultTransport)}
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

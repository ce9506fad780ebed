package emulator_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"pcsync/internal/emulator"
	"pcsync/internal/wire"
)

// TestReplayServesTheCaptureAndNamesWhatItLacks captures a login, a host id
// call and a posture stream cut off by the emulator, then replays them: the
// same answers (the token as the marker), the stream cut at the same byte,
// and a 404 naming a request the capture lacks.
func TestReplayServesTheCaptureAndNamesWhatItLacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Faults: emulator.Faults{CutAfter: 700, CutStreams: 1}})
	dir := filepath.Join(t.TempDir(), "capture")
	capture, err := wire.NewCapture(dir, "emulator", nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: capture.Wrap(&http.Transport{DisableCompression: true})}
	pol := strconv.FormatInt(f.est.Policies()[0].ID, 10)
	calls := func(base, user, password string) (tok string, hostids []byte, posture []byte, postureErr error) {
		resp, err := client.PostForm(base+"/auth", url.Values{"username": {user}, "password": {password}, "token": {"true"}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		tok = string(b)
		req, _ := http.NewRequest("GET", base+"/pcrs/1.0/posture/hostids?policyId="+pol, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		hostids, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		req, _ = http.NewRequest("POST", base+"/pcrs/1.0/posture/postureInfo?compressionRequired=0", bytes.NewReader(hostids))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		posture, postureErr = io.ReadAll(resp.Body)
		resp.Body.Close()
		return
	}
	_, ids1, post1, err1 := calls(f.ts.URL, "pcsync", "emulator")
	if err1 == nil || len(post1) != 700 {
		t.Fatalf("the captured stream was not cut: %d bytes, %v", len(post1), err1)
	}
	if capture.Err() != nil || capture.Exchanges() != 3 {
		t.Fatalf("capture: %d exchanges, %v", capture.Exchanges(), capture.Err())
	}

	rp, err := emulator.NewReplay(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(rp)
	defer ts.Close()
	client = &http.Client{Transport: &http.Transport{DisableCompression: true}}
	tok2, ids2, post2, err2 := calls(ts.URL, "someone", "else") // a replay checks no credentials
	if tok2 != wire.Marker || !bytes.Equal(ids1, ids2) || !bytes.Equal(post1, post2) || err2 == nil {
		t.Fatalf("replay: token %q, host ids equal %v, stream %d bytes (%v); want the marker, the same ids, the same 700 bytes cut off",
			tok2, bytes.Equal(ids1, ids2), len(post2), err2)
	}
	resp, err := http.Get(ts.URL + "/pcrs/1.0/posture/hostids?policyId=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "no answer for GET /pcrs/1.0/posture/hostids?policyId=1") ||
		!strings.Contains(string(body), "1 other request") {
		t.Fatalf("unknown request answered %d: %s", resp.StatusCode, body)
	}
}

// A capture may come from elsewhere (a bug report): a replay serves plain
// files only (a link in it does not serve another file of this machine),
// and an exchange that is not one (an impossible status, an index file of
// any size) is refused when the capture loads.
func TestReplayRefusesAHostileCapture(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("not for the client"), 0o600)
	capture := func(t *testing.T) string {
		dir := filepath.Join(t.TempDir(), "capture")
		c, err := wire.NewCapture(dir, "emulator", nil)
		if err != nil {
			t.Fatal(err)
		}
		client := &http.Client{Transport: c.Wrap(&http.Transport{})}
		resp, err := client.PostForm(f.ts.URL+"/auth", url.Values{"username": {"pcsync"}, "password": {"emulator"}, "token": {"true"}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if c.Err() != nil || c.Exchanges() != 1 {
			t.Fatalf("capture: %d exchanges, %v", c.Exchanges(), c.Err())
		}
		return dir
	}
	t.Run("a linked body", func(t *testing.T) {
		dir := capture(t)
		body := filepath.Join(dir, "000001.resp")
		os.Remove(body)
		if err := os.Symlink(secret, body); err != nil {
			t.Fatal(err)
		}
		rp, err := emulator.NewReplay(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(rp)
		defer ts.Close()
		resp, err := http.PostForm(ts.URL+"/auth", url.Values{"username": {"x"}, "password": {"y"}, "token": {"true"}})
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), "not for the client") {
				t.Fatalf("the replay served the file a link in the capture names: %q", b)
			}
		}
	})
	// a FIFO in place of a file once blocked the load (and Ctrl-C with it)
	// or the request, for good
	t.Run("a FIFO", func(t *testing.T) {
		dir := capture(t)
		fifo := func(name string) {
			os.Remove(filepath.Join(dir, name))
			if err := syscall.Mkfifo(filepath.Join(dir, name), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		fifo("000001.resp")
		rp, err := emulator.NewReplay(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(rp)
		defer ts.Close()
		client := &http.Client{Timeout: 10 * time.Second}
		resp, err := client.PostForm(ts.URL+"/auth", url.Values{"username": {"x"}, "password": {"y"}, "token": {"true"}})
		if os.IsTimeout(err) { // refused or dropped, as long as it ends
			t.Fatalf("a request whose answer is a FIFO: %v", err)
		}
		if err == nil {
			resp.Body.Close()
		}
		fifo("000001.json")
		done := make(chan error, 1)
		go func() { _, err := emulator.NewReplay(dir, nil); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "000001.json is not a plain file") {
				t.Fatalf("a capture with a FIFO for an index file loaded (%v); want an error naming it", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("loading a capture with a FIFO for an index file blocks")
		}
	})
	for name, spoil := range map[string]func(dir string){
		"an impossible status": func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "000001.json"))
			var m map[string]any
			json.Unmarshal(b, &m)
			m["status"] = 1
			b, _ = json.Marshal(m)
			os.WriteFile(filepath.Join(dir, "000001.json"), b, 0o600)
		},
		"an index file of 2 MiB": func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "000001.json"))
			os.WriteFile(filepath.Join(dir, "000001.json"), append(b, bytes.Repeat([]byte(" "), 2<<20)...), 0o600)
		},
		"a linked index file": func(dir string) {
			p := filepath.Join(dir, "000001.json")
			b, _ := os.ReadFile(p)
			os.WriteFile(secret+".json", b, 0o600)
			os.Remove(p)
			os.Symlink(secret+".json", p)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := capture(t)
			spoil(dir)
			if _, err := emulator.NewReplay(dir, nil); err == nil || !strings.Contains(err.Error(), "000001.json") {
				t.Fatalf("a capture with %s loaded (%v); want an error naming the file", name, err)
			}
		})
	}
}

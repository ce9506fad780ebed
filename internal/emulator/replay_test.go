package emulator_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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

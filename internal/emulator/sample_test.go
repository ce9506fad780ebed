package emulator_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"net/http/httptest"

	"pcsync/internal/emulator"
)

// python finds a python3 that has the requests package: $PCSYNC_PYTHON,
// then python3 on the PATH, then /usr/bin/python3. .ci/run installs one.
func python(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("PCSYNC_PYTHON"), "python3", "/usr/bin/python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import requests").Run(); err == nil {
			return c
		}
	}
	t.Skip("no python3 with requests: .ci/run installs python3-requests; set PCSYNC_PYTHON to run this test")
	return ""
}

// TestQualysSampleDownloaderWorks runs Qualys's own sample script against
// the emulator over https (the script turns verification off, as shipped)
// and checks it gets exactly the records the estate holds, with evidence.
func TestQualysSampleDownloaderWorks(t *testing.T) {
	t.Parallel()
	py := python(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.Hosts, cfg.ControlsPerPolicy = 2, 40, 25
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: est})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(srv)
	defer ts.Close()
	pol := est.Policies()[1]
	out := filepath.Join(t.TempDir(), "output.json")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/qualys_sample_downloader.py")
	cmd.Env = append(os.Environ(), "GATEWAY_URL="+ts.URL, "POLICY_ID="+strconv.FormatInt(pol.ID, 10),
		"OUTPUT="+out, "QUALYS_USERNAME=pcsync", "QUALYS_PASSWORD=emulator", "PYTHONWARNINGS=ignore")
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sample script failed: %v\n%s", err, logs)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := est.PolicyHostIDs(pol.ID, time.Time{})
	var want bytes.Buffer
	n, err := est.WritePosture(&want, []emulator.PolicyRequest{{PolicyID: pol.ID, HostIDs: ids}}, emulator.StreamOptions{Evidence: true})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the policy has no records; the test proves nothing")
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the script saved %d bytes, the estate's %d records are %d bytes", len(got), n, want.Len())
	}
	if srv.Calls("postureInfo") != 1 || srv.Calls("hostids") != 1 {
		t.Fatalf("calls: hostids %d, postureInfo %d; want 1 each", srv.Calls("hostids"), srv.Calls("postureInfo"))
	}
}

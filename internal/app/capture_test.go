package app

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pcsync/internal/emulator"
	"pcsync/internal/wire"
)

// serveTLS serves h over https and writes its certificate to a file.
func serveTLS(t *testing.T, h http.Handler) (string, string) {
	t.Helper()
	ts := httptest.NewTLSServer(h)
	t.Cleanup(ts.Close)
	cert := filepath.Join(t.TempDir(), "server.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ts.URL, cert
}

// TestCaptureThenReplayGivesTheSameDatabase captures a sync against an
// emulator that misbehaves (an outage, a 429, a 409, an expired token, a
// stream cut off), checks that no secret reached the capture, replays it,
// syncs again from the replay, and compares the two databases' exports.
func TestCaptureThenReplayGivesTheSameDatabase(t *testing.T) {
	t.Parallel()
	const password = "Capture-s3cret&pw"
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 2, 1, 20, 15, 10
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: est, Password: password, RateCalls: -1,
		Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1},
		Faults:  emulator.Faults{Status5xx: 1, RateLimitStorm: 1, ConflictStorm: 1, Unauthorized: 1, CutAfter: 2000, CutStreams: 1}})
	if err != nil {
		t.Fatal(err)
	}
	emuURL, emuCert := serveTLS(t, srv)
	dir := filepath.Join(t.TempDir(), "capture")
	db1 := filepath.Join(t.TempDir(), "captured.db")
	creds := credentials(t, password)
	code, out, errOut := run(t, "sync", "--config", creds, "--gateway", emuURL, "--api", emuURL, "--ca-cert", emuCert,
		"--db", db1, "--hosts-per-request", "4", "--capture", dir)
	if code != ExitOK {
		t.Fatalf("captured sync exited %d\n%s\n%s", code, out, errOut)
	}
	for _, f := range []string{"cut", "401", "429", "409", "5xx:auth"} {
		if srv.Injected(f) == 0 {
			t.Fatalf("fault %s was never injected; the test proves less than it says", f)
		}
	}
	checkNoSecrets(t, dir, password)

	rp, err := emulator.NewReplay(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	replayURL, replayCert := serveTLS(t, rp)
	db2 := filepath.Join(t.TempDir(), "replayed.db")
	code, out, errOut = run(t, "sync", "--config", credentials(t, "anything"), "--gateway", replayURL, "--api", replayURL,
		"--ca-cert", replayCert, "--db", db2, "--hosts-per-request", "4")
	if code != ExitOK {
		t.Fatalf("sync from the replay exited %d\n%s\n%s", code, out, errOut)
	}
	for _, table := range []string{"postures", "policies", "hosts", "controls", "control_technologies", "technologies",
		"sections", "policy_controls", "policy_control_technologies", "frameworks", "control_frameworks", "policy_hosts"} {
		a, b := exportTable(t, db1, table), exportTable(t, db2, table)
		if a != b || strings.Count(a, "\n") == 0 {
			t.Fatalf("table %s: %d rows captured, %d replayed, or they differ", table, strings.Count(a, "\n"), strings.Count(b, "\n"))
		}
	}
}

func exportTable(t *testing.T, db, table string) string {
	t.Helper()
	code, out, errOut := run(t, "export", "--db", db, "--table", table, "--format", "ndjson")
	if code != ExitOK {
		t.Fatalf("export %s of %s exited %d: %s", table, db, code, errOut)
	}
	return out
}

// checkNoSecrets greps every file of a capture for the password (as typed,
// form-encoded and inside Basic credentials) and for any JWT.
func checkNoSecrets(t *testing.T, dir, password string) {
	t.Helper()
	secrets := []string{password, url.QueryEscape(password), base64.StdEncoding.EncodeToString([]byte("pcsync:" + password)), "eyJ"}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 10 {
		t.Fatalf("the capture holds %d files", len(files))
	}
	var redacted, broken int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Fatalf("%s contains a secret (%.6s...)", f, s)
			}
		}
		redacted += strings.Count(string(b), wire.Marker)
		if strings.HasSuffix(f, ".json") {
			var ex wire.Exchange
			if err := json.Unmarshal(b, &ex); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if !ex.Complete && ex.Status == 200 {
				broken++
			}
		}
	}
	if redacted == 0 || broken == 0 {
		t.Fatalf("%d markers, %d broken answers in the capture; want both", redacted, broken)
	}
}

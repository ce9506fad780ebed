package app

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

func TestMalformedURLsAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	creds := credentials(t, "emulator")
	db := filepath.Join(t.TempDir(), "x.db")
	for _, u := range []string{"https://127.0.0.1:99999", "https://127.0.0.1:0", "https://:443", "https://exa mple.com", "ftp://x"} {
		for _, flag := range []string{"--gateway", "--api"} {
			start := time.Now()
			code, _, errOut := run(t, "sync", "--config", creds, flag, u, "--db", db)
			if code != ExitUsage || time.Since(start) > 2*time.Second {
				t.Errorf("%s %s: exit %d after %s (%q); want exit 2 at once", flag, u, code, time.Since(start), errOut)
			}
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a refused run created the database")
	}
}

func TestAConfigFileOthersCanReadDrawsAWarning(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	cfg := credentials(t, "emulator")
	args := []string{"sync", "--config", cfg, "--gateway", e.url, "--ca-cert", e.certFile, "--db", filepath.Join(t.TempDir(), "x.db"), "--log-level", "error"}
	if code, _, errOut := run(t, args...); code != ExitOK || strings.Contains(errOut, "chmod") {
		t.Fatalf("a 0600 config file: exit %d, stderr %q; want no warning", code, errOut)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, args...)
	if code != ExitOK || !strings.Contains(errOut, cfg) || !strings.Contains(errOut, "chmod 600 "+cfg) {
		t.Fatalf("a 0644 config file with a password: exit %d, stderr %q; want a warning naming it and chmod 600", code, errOut)
	}
}

func TestARefusedLoginSaysWhereTheCredentialsCameFrom(t *testing.T) {
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "x.db")
	wrong := credentials(t, "wrong")
	code, _, errOut := run(t, "sync", "--config", wrong, "--gateway", e.url, "--ca-cert", e.certFile, "--db", db)
	if code != ExitAuth || !strings.Contains(errOut, "the config file "+wrong) || strings.Contains(errOut, "QUALYS_PASSWORD") {
		t.Fatalf("password from the file: exit %d, stderr %q; want exit 3 naming %s", code, errOut, wrong)
	}
	t.Setenv("QUALYS_USERNAME", "pcsync")
	t.Setenv("QUALYS_PASSWORD", "wrong-too")
	code, _, errOut = run(t, "sync", "--gateway", e.url, "--ca-cert", e.certFile, "--db", db)
	if code != ExitAuth || !strings.Contains(errOut, "the environment (QUALYS_USERNAME, QUALYS_PASSWORD)") {
		t.Fatalf("password from the environment: exit %d, stderr %q; want exit 3 naming the environment", code, errOut)
	}
}

// jsonLines fails the test unless every line of s is one JSON object.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("--log-format json wrote a line that is not a JSON object: %q", line)
		}
		out = append(out, m)
	}
	return out
}

func TestJSONLogsAreJSONEveryLine(t *testing.T) {
	t.Parallel()
	srv := newEmulator(t, startEmulator(t).estate.Config())
	plain := httptest.NewServer(srv) // plain http: a warning
	t.Cleanup(plain.Close)
	db := filepath.Join(t.TempDir(), "x.db")
	code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", plain.URL, "--db", db,
		"--insecure-skip-verify", "--log-format", "json", "--log-level", "error")
	lines := jsonLines(t, errOut)
	if code != ExitOK || len(lines) < 2 || !strings.Contains(errOut, "plain http") || !strings.Contains(errOut, "verification is OFF") {
		t.Fatalf("exit %d, stderr %q; want the two warnings as JSON", code, errOut)
	}
	for _, args := range [][]string{
		{"sync", "--config", credentials(t, "wrong"), "--gateway", plain.URL, "--db", db, "--log-format", "json"}, // refused login
		{"sync", "--config", credentials(t, "emulator"), "--gateway", "https://127.0.0.1:99999", "--db", db, "--log-format", "json"},
		{"sync", "--config", filepath.Join(t.TempDir(), "missing.yaml"), "--db", db, "--log-format", "json"},
		{"sync", "--log-format=json", "--no-such-flag"}, // the flags themselves, before any logger
		{"check", "--log-format", "json", "--gateway", "not a url"},
		{"check", "--log-format", "json", "--config", credentials(t, "wrong"), "--gateway", plain.URL}, // its problem lines
		{"sync", "--config", credentials(t, "emulator"), "--gateway", plain.URL, "--db", filepath.Join(t.TempDir(), "c.db"), "--log-format", "json",
			"--capture", filepath.Join(t.TempDir(), "capture"), "--policy", "999"}, // the capture's line, and an incomplete run

		{"export", "--log-format", "JSON", "--db", filepath.Join(t.TempDir(), "none.db"), "--table", "postures"},
	} {
		code, _, errOut := run(t, args...)
		if code == ExitOK || len(jsonLines(t, errOut)) == 0 {
			t.Fatalf("%v: exit %d, stderr %q; want a JSON error line", args, code, errOut)
		}
	}
}

func TestDebugLogsEveryHTTPCallAndBatch(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile,
		"--db", filepath.Join(t.TempDir(), "x.db"), "--log-level", "debug", "--log-format", "json", "--hosts-per-request", "5")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	calls := map[string]int{}
	batches := 0
	for _, m := range jsonLines(t, errOut) {
		switch m["msg"] {
		case "http call":
			for _, k := range []string{"method", "url", "status", "bytes", "duration"} {
				if m[k] == nil {
					t.Fatalf("http call line without %s: %v", k, m)
				}
			}
			u, _, _ := strings.Cut(m["url"].(string), "?")
			calls[u[strings.LastIndex(u, "/"):]]++
		case "batch committed":
			batches++
		}
	}
	if calls["/auth"] == 0 || calls["/list"] == 0 || calls["/postureInfo"] == 0 || batches == 0 {
		t.Fatalf("debug logged calls %v and %d batches; want the login, the policy list, every postureInfo and each batch", calls, batches)
	}
	if strings.Contains(errOut, "password=") || strings.Contains(errOut, "eyJ") {
		t.Fatal("a debug line carries the password or the token")
	}
}

func TestEachCommandsHelpListsItsExitCodesOnce(t *testing.T) {
	t.Parallel()
	for cmd, want := range map[string][]string{
		"sync": {"0 ", "2 ", "3 ", "5 ", "7 ", "130 "}, "version": {"0 "}, "export": {"2 ", "6 "}, "diff": {"6 "},
		"demo": {"5 "}, "emulate": {"2 "},
	} {
		code, out, _ := run(t, cmd, "--help")
		if code != ExitOK || strings.Count(out, "Exit codes:") != 1 {
			t.Fatalf("%s --help: exit %d, %d exit code tables", cmd, code, strings.Count(out, "Exit codes:"))
		}
		table := out[strings.Index(out, "Exit codes:"):]
		for _, w := range want {
			if !strings.Contains(table, "  "+w) {
				t.Errorf("%s --help does not list exit code %s", cmd, w)
			}
		}
		if cmd == "version" && strings.Contains(table, "  7 ") {
			t.Errorf("version --help lists the sync's exit codes")
		}
	}
	if _, out, _ := run(t, "demo", "--help"); !strings.Contains(out, "Examples:") {
		t.Error("demo --help has no examples")
	}
	if _, out, _ := run(t, "emulate", "--help"); !strings.Contains(out, "classic API") {
		t.Error("emulate --help does not describe the classic API")
	}
}

// A rejects file that cannot be written is refused before the run, not
// found out at the first bad record, when the record would be lost.
func TestAnUnwritableRejectsFileIsRefusedFirst(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "x.db")
	bad := filepath.Join(t.TempDir(), "no-such-dir", "rejects.ndjson")
	code, _, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", e.url, "--ca-cert", e.certFile,
		"--db", db, "--rejects", bad)
	if code != ExitUsage || !strings.Contains(errOut, "the rejects file "+bad+" cannot be created: directory ") ||
		!strings.Contains(errOut, "choose another --rejects") {
		t.Fatalf("exit %d, %q; want exit 2 naming the rejects file", code, errOut)
	}
	if n := count(db, "SELECT count(*) FROM runs"); n != 0 {
		t.Errorf("%d runs recorded; want none", n)
	}
}

// An unknown export format names every format, parquet too.
func TestAnUnknownFormatNamesEveryFormat(t *testing.T) {
	t.Parallel()
	db := syncedDB(t, startEmulator(t))
	code, _, errOut := run(t, "export", "--db", db, "--format", "xml")
	if code != ExitUsage || !strings.Contains(errOut, `unknown format "xml"; use one of ndjson, json, csv, parquet`) {
		t.Errorf("--format xml: exit %d %q; want 2 naming every format", code, errOut)
	}
}

// emulate --tls serves a certificate for the address it listens on, so
// the sync command it prints works from another machine too.
func TestTheEmulatorsCertificateNamesItsListenAddress(t *testing.T) {
	t.Parallel()
	for listen, name := range map[string]string{"192.0.2.2:8443": "192.0.2.2", "emu.example:8443": "emu.example", "127.0.0.1:0": "localhost"} {
		_, certPEM, err := emulator.SelfSignedCert(certHosts(listen)...)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(certPEM)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("--listen %s: %v", listen, err)
		}
	}
}

// emulate refuses limits and faults that cannot be meant: a negative or
// sub-second rate window (the limit was silently off, or its header said
// 0), a negative token lifetime, a negative fault or a share above 100.
func TestTheEmulatorRefusesNonsenseLimitsAndFaults(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--rate-window", "-1m"}, {"--rate-window", "500ms"}, {"--token-ttl", "-1s"},
		{"--fault-reset-percent", "200"}, {"--fault-cut-after", "-1"}, {"--fault-5xx", "-3"}} {
		// an emulator that starts serving is stopped after 5 s (and fails)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var out, errOut bytes.Buffer
		code := Main(ctx, append([]string{"emulate", "--listen", "127.0.0.1:0"}, args...), IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
		cancel()
		if code != ExitUsage || !strings.Contains(errOut.String(), "emulator: ") {
			t.Errorf("emulate %v: exit %d %q; want 2 saying what is wrong", args, code, errOut.String())
		}
	}
}

// --epoch says what is wrong: not a date, or the zero date, which is a
// date but reads as none.
func TestAnEpochSaysWhatIsWrongWithIt(t *testing.T) {
	t.Parallel()
	for epoch, want := range map[string]string{"nope": "is not a date", "0001-01-01T00:00:00Z": "is the zero date"} {
		code, _, errOut := run(t, "emulate", "--epoch", epoch)
		if code != ExitUsage || !strings.Contains(errOut, want) {
			t.Errorf("--epoch %s: exit %d %q; want 2 saying it %s", epoch, code, errOut, want)
		}
	}
}

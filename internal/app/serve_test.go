package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

// serveInProcess runs "pcsync serve" with args until the test ends and
// returns the URL it prints.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, append([]string{"serve"}, args...), IOStreams{In: strings.NewReader(""), Out: pw, ErrOut: io.Discard})
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("serve ended with exit %d after its context was cancelled, want 0", code)
		}
	})
	u := dashboardURL(pr)
	if u == "" {
		t.Fatal("serve did not say where it listens")
	}
	return u
}

// dashboardURL reads the output of serve or demo up to the line that
// says where the dashboard is and returns its URL ("" if none came), then
// reads the rest in the background (a child whose output is not read
// blocks).
func dashboardURL(out io.Reader) string {
	defer func() { go io.Copy(io.Discard, out) }()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "dashboard at "); ok {
			return strings.TrimSuffix(strings.Fields(rest)[0], "/")
		}
	}
	return ""
}

// serveProcess starts the pcsync binary bin as "serve" with args, killed
// when the test ends, and returns it, its URL and its standard error.
func serveProcess(t *testing.T, bin string, args ...string) (*exec.Cmd, string, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve"}, args...)...)
	out, _ := cmd.StdoutPipe()
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	u := dashboardURL(out)
	if u == "" {
		cmd.Wait()
		t.Fatalf("serve did not say where it listens\n%s", errOut.String())
	}
	return cmd, u, &errOut
}

func TestServeRefusesToListenBeyondLoopbackWithoutAToken(t *testing.T) {
	e := startEmulator(t)
	db := syncedDB(t, e)
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		code, _, errOut := run(t, "serve", "--db", db, "--listen", listen)
		if code != ExitUsage || !strings.Contains(errOut, "PCSYNC_SERVE_TOKEN") {
			t.Errorf("--listen %s without a token: exit %d, %q; want exit 2 naming PCSYNC_SERVE_TOKEN", listen, code, errOut)
		}
	}
	for _, tok := range []string{"   ", "a token", "token\n"} {
		t.Setenv("PCSYNC_SERVE_TOKEN", tok)
		code, _, errOut := run(t, "serve", "--db", db, "--listen", "0.0.0.0:0")
		if code != ExitUsage || !strings.Contains(errOut, "space or a control character") {
			t.Errorf("a token %q: exit %d, %q; want exit 2 saying what is wrong with it", tok, code, errOut)
		}
	}
	t.Setenv("PCSYNC_SERVE_TOKEN", "a-token")
	u := serveInProcess(t, "--db", db, "--listen", "0.0.0.0:0")
	resp, err := http.Get(strings.Replace(u, "0.0.0.0", "127.0.0.1", 1) + "/api/v1/summary")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("with a token, an API call without it: %d, want 401", resp.StatusCode)
	}
}

func TestServeLogsABrowserInWithTheTokenOnce(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := syncedDB(t, e)
	cfg := filepath.Join(t.TempDir(), "serve.yaml")
	os.WriteFile(cfg, []byte("serve:\n  token: from-the-file\n"), 0o600)
	u := serveInProcess(t, "--db", db, "--listen", "127.0.0.1:0", "--config", cfg)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(u + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasSuffix(resp.Request.URL.Path, "/login") || !strings.Contains(string(body), `name="token"`) {
		t.Fatalf("the dashboard without the token did not ask for it: %s %s", resp.Request.URL, body)
	}
	resp, err = c.PostForm(u+"/login", url.Values{"token": {"wrong"}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d", resp.StatusCode)
	}
	resp, err = c.PostForm(u+"/login", url.Values{"token": {"from-the-file"}, "next": {"/api/v1/summary"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/api/v1/summary" {
		t.Fatalf("after the login: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	var set string
	for _, h := range resp.Request.Response.Header.Values("Set-Cookie") {
		set += h
	}
	if !strings.Contains(set, "HttpOnly") || !strings.Contains(set, "SameSite=Strict") || strings.Contains(set, "from-the-file") {
		t.Fatalf("session cookie %q: want HttpOnly, SameSite=Strict and not the token itself", set)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pcsync test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeOverTLS(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := syncedDB(t, e)
	cert, key, pool := selfSigned(t)
	u := serveInProcess(t, "--db", db, "--listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(u, "https://") {
		t.Fatalf("served at %s", u)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(u + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("https /healthz: %d, HSTS %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	if code, _, errOut := run(t, "serve", "--db", db, "--tls-cert", cert); code != ExitUsage {
		t.Fatalf("--tls-cert without --tls-key: exit %d %s", code, errOut)
	}
}

// SIGTERM lets the requests under way finish, then pcsync serve exits 0.
func TestServeEndsGracefullyOnSIGTERM(t *testing.T) {
	t.Parallel()
	bin := buildPcsync(t)
	e := startEmulator(t)
	db := syncedDB(t, e)
	cmd, u, _ := serveProcess(t, bin, "--db", db, "--listen", "127.0.0.1:0")
	// a download under way: read its start, signal, then read the rest
	resp, err := http.Get(u + "/api/v1/postures?format=ndjson")
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 100)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the signal lands while the answer is still being read
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.HasSuffix(string(rest), "}\n") {
		t.Fatalf("the download under way was cut by the shutdown: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v, want exit 0", err)
	}
	if _, err := http.Get(u + "/healthz"); err == nil {
		t.Fatal("the server still answers after it exited")
	}
}

// A client that stops reading a download does not keep the server from
// stopping: after --shutdown-grace the download is cut off, a warning says
// so, and serve still exits 0 (it stopped as it was asked to).
func TestServeCutsAStalledDownloadAfterTheGrace(t *testing.T) {
	t.Parallel()
	bin := buildPcsync(t)
	cfg := emulator.DefaultConfig() // postures enough (24 MB of NDJSON) that the download outgrows the connection's buffers
	cfg.Policies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 2, 400, 400, 60
	db := syncedDB(t, startEmulatorOf(t, cfg))
	cmd, u, errOut := serveProcess(t, bin, "--db", db, "--listen", "127.0.0.1:0", "--shutdown-grace", "1s")
	resp, err := http.Get(u + "/api/v1/postures?format=ndjson")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the client reads no more: the server's writes fill the connection and wait
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("serve after SIGTERM with a stalled download: %v, want exit 0\n%s", err, errOut.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20 s of SIGTERM with --shutdown-grace 1s")
	}
	if !strings.Contains(errOut.String(), "cut off") {
		t.Errorf("no warning that a download was cut off:\n%s", errOut.String())
	}
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("the stalled download ended as if whole")
	}
	for _, args := range [][]string{{"--shutdown-grace", "0s"}, {"--sync-every", "0s"}, {"--sync-every", "-1h"}, {"--concurrency", "-5"}} {
		if code, _, errOut := run(t, append([]string{"serve", "--db", db}, args...)...); code != ExitUsage || !strings.Contains(errOut, args[0]+" ") {
			t.Errorf("%v: exit %d %s; want exit 2 naming the flag", args, code, errOut)
		}
	}
}

// --sync-every runs the configured sync in the server's process, from a
// database that does not exist yet.
func TestServeRunsTheScheduledSync(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "scheduled.db")
	cfg := filepath.Join(t.TempDir(), "pcsync.yaml")
	os.WriteFile(cfg, []byte("qualys:\n  username: pcsync\n  password: emulator\n  gateway_url: "+e.url+"\n  ca_cert: "+e.certFile+"\n"), 0o600)
	u := serveInProcess(t, "--db", db, "--listen", "127.0.0.1:0", "--config", cfg, "--sync-every", "1h")
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u + "/api/v1/runs")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"status":"succeeded"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled run succeeded within 30 s: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A fresh demo syncs through both APIs, twice, and serves a dashboard in
// which every view has content; Ctrl-C ends it with exit 0.
func TestDemoServesADashboardWithContentInEveryView(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"demo", "--db", db, "--hosts", "80", "--hosts-per-policy", "60", "--controls", "16",
			"--listen", "127.0.0.1:0"}, IOStreams{In: strings.NewReader(""), Out: pw, ErrOut: io.Discard})
		pw.Close()
	}()
	u := dashboardURL(pr)
	if u == "" {
		t.Fatalf("demo did not serve (exit %d)", <-done)
	}
	count := func(path string) int {
		resp, err := http.Get(u + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Count(string(body), "\n")
	}
	for _, path := range []string{"/api/v1/policies", "/api/v1/frameworks", "/api/v1/exceptions", "/api/v1/changes",
		"/api/v1/trend", "/api/v1/runs", "/api/v1/hosts", "/api/v1/postures?status=Error"} {
		if n := count(path + "?format=ndjson"); n == 0 {
			t.Errorf("%s is empty on a fresh demo", path)
		}
	}
	if n := count("/api/v1/trend?format=ndjson"); n < 2 {
		t.Errorf("%d trend points on a fresh demo, want 2", n)
	}
	resp, _ := http.Get(u + "/api/v1/policies?limit=1")
	var page struct{ Items []struct{ ID int64 } }
	json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	var pol struct {
		Sections []any `json:"sections"`
	}
	resp, _ = http.Get(fmt.Sprintf("%s/api/v1/policies/%d", u, page.Items[0].ID))
	json.NewDecoder(resp.Body).Decode(&pol)
	resp.Body.Close()
	if len(pol.Sections) == 0 {
		t.Error("the demo's policies have no sections (the classic API was not used)")
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("demo after Ctrl-C: exit %d, want 0", code)
	}
}

// Listening beyond loopback over plain http warns that the token crosses
// the network readable; on loopback or over https it does not. (The address is taken,
// so that serve stops right after its checks.)
func TestServeWarnsOfATokenOverPlainHTTP(t *testing.T) {
	t.Setenv("PCSYNC_SERVE_TOKEN", "a-token")
	db := syncedDB(t, startEmulator(t))
	taken, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	cert, key, _ := selfSigned(t)
	for _, tc := range []struct {
		args  []string
		warns bool
	}{
		{[]string{"--listen", "0.0.0.0:" + port}, true},
		{[]string{"--listen", "127.0.0.1:" + port}, false},
		{[]string{"--listen", "0.0.0.0:" + port, "--tls-cert", cert, "--tls-key", key}, false},
	} {
		code, _, errOut := run(t, append([]string{"serve", "--db", db}, tc.args...)...)
		if code == ExitOK || strings.Contains(errOut, "plain http") != tc.warns {
			t.Errorf("%v: exit %d, %q; want a failure to listen, warning of plain http: %v", tc.args, code, errOut, tc.warns)
		}
	}
}

// lockedBuffer is a bytes.Buffer several goroutines may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A scheduled sync that fails is logged as a warning, not as information:
// a server's log is watched for warnings.
func TestAFailedScheduledSyncIsAWarning(t *testing.T) {
	t.Parallel()
	e := startEmulator(t)
	db := filepath.Join(t.TempDir(), "scheduled.db")
	cfg := filepath.Join(t.TempDir(), "pcsync.yaml")
	// a policy Qualys does not list: the run fails (exit 5 for a sync)
	os.WriteFile(cfg, []byte("qualys:\n  username: pcsync\n  password: emulator\n  gateway_url: "+e.url+"\n  ca_cert: "+e.certFile+
		"\nsync:\n  policies: [999]\n"), 0o600)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errOut lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--db", db, "--listen", "127.0.0.1:0", "--config", cfg, "--sync-every", "1h",
			"--log-format", "json"}, IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: &errOut})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(errOut.String(), `"msg":"scheduled sync finished"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled sync finished within 30 s:\n%s", errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	for _, line := range strings.Split(errOut.String(), "\n") {
		if strings.Contains(line, `"msg":"scheduled sync finished"`) &&
			(!strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, `"status":"failed"`)) {
			t.Errorf("a failed scheduled sync logged as %s; want a warning of a failed run", line)
		}
	}
}

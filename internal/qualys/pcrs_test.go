package qualys

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
)

func newEmulator(t *testing.T, opts emulator.Options) (*emulator.Estate, string) {
	t.Helper()
	srv, url := emulatorWith(t, opts)
	return srv.Estate(), url + "/"
}

// emulatorWith serves the test estate with opts and returns its server.
func emulatorWith(t *testing.T, opts emulator.Options) (*emulator.Server, string) {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.Hosts, cfg.ControlsPerPolicy = 3, 12, 8
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Estate = est
	if opts.RateCalls == 0 {
		opts.RateCalls = -1
	}
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

func newTestClient(t *testing.T, url, password string, log *slog.Logger) *Client {
	t.Helper()
	c, err := NewClient(complete(Options{GatewayURL: url, Username: "pcsync", Password: password, Logger: log,
		Backoff: func(int) time.Duration { return time.Millisecond }}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWrongPasswordIsAnAuthErrorThatNeverShowsThePassword(t *testing.T) {
	t.Parallel()
	_, url := newEmulator(t, emulator.Options{})
	var logs bytes.Buffer
	const secret = "s3cr3t-Pa55word"
	c := newTestClient(t, url, secret, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	_, _, err := c.PCRS.ListPolicies(t.Context(), nil)
	var auth *AuthError
	if !errors.As(err, &auth) || auth.StatusCode != 401 {
		t.Fatalf("error %v, want an *AuthError with status 401", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Fatal("the password appears in an error or a log line")
	}
}

func TestHostIDsReportsUnknownPoliciesAndRefusesTooMany(t *testing.T) {
	t.Parallel()
	est, url := newEmulator(t, emulator.Options{})
	c := newTestClient(t, url, "emulator", nil)
	known := est.Policies()[0].ID
	res, err := c.PCRS.HostIDs(t.Context(), []int64{known, 94473}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].PolicyID != known || len(res[0].HostIDs) != 12 || res[0].Error != "" {
		t.Fatalf("known policy: %+v", res)
	}
	if res[1].PolicyID != 94473 || res[1].Error == "" || len(res[1].HostIDs) != 0 {
		t.Fatalf("unknown policy: %+v", res[1])
	}
	if _, err := c.PCRS.HostIDs(t.Context(), make([]int64, 11), nil); err == nil {
		t.Fatal("11 policies in one call were not refused")
	}
}

func TestPostureStreamAcceptsContentEncodingAndNoContent(t *testing.T) {
	t.Parallel()
	est, url := newEmulator(t, emulator.Options{ContentEncoding: true})
	c := newTestClient(t, url, "emulator", nil)
	hosts, err := c.PCRS.HostIDs(t.Context(), []int64{est.Policies()[0].ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(req *PostureRequest) int {
		s, err := c.PCRS.Posture(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n := 0
		var p compliance.Posture
		for {
			err := s.Next(&p)
			if err == io.EOF {
				return n
			}
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	want := est.Counts(est.Policies()[0].ID).Records
	if n := count(&PostureRequest{Policies: hosts, Compression: true}); int64(n) != want {
		t.Fatalf("gzip with Content-Encoding: %d records, want %d", n, want)
	}
	if n := count(&PostureRequest{Policies: hosts, Compression: true, LastEvaluationDate: time.Now().AddDate(10, 0, 0)}); n != 0 {
		t.Fatalf("204 answer gave %d records", n)
	}
	if _, err := c.PCRS.Posture(t.Context(), &PostureRequest{Policies: hosts, LastScanDateFrom: time.Now()}); err == nil {
		t.Fatal("lastScanDateFrom without lastScanDateTo was sent")
	}
}

func TestBadURLsAreRefused(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"gateway.qualys.com", "ftp://x", "https://user:pw@gateway.example.com", "https://"} {
		_, err := NewClient(Options{GatewayURL: u, Username: "u", Password: "pw"})
		if err == nil {
			t.Errorf("%q accepted", u)
		} else if strings.Contains(err.Error(), ":pw@") {
			t.Errorf("%q: the error shows the password: %v", u, err)
		}
	}
}

func TestGatewayOutageIsNotACredentialsError(t *testing.T) {
	t.Parallel()
	est, _ := newEmulator(t, emulator.Options{})
	srv, err := emulator.New(emulator.Options{Estate: est, Faults: emulator.Faults{Status5xx: 100}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := newTestClient(t, ts.URL, "emulator", nil)
	_, _, err = c.PCRS.ListPolicies(t.Context(), nil)
	var auth *AuthError
	var api *APIError
	if errors.As(err, &auth) || !errors.As(err, &api) || api.StatusCode != 503 || api.Endpoint != "POST /auth" {
		t.Fatalf("login during an outage: %v; want a 503 *APIError from /auth, not an *AuthError", err)
	}
}

package app

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"pcsync/internal/emulator"
)

// checkEmulator serves a small estate over TLS with opts.
func checkEmulator(t *testing.T, opts emulator.Options) (string, string) {
	url, cert, _ := checkEstate(t, opts)
	return url, cert
}

func checkEstate(t *testing.T, opts emulator.Options) (string, string, *emulator.Estate) {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 3, 1, 40, 10
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Estate, opts.RateCalls = est, -1
	if opts.Classic.Calls == 0 {
		opts.Classic = emulator.ClassicLimits{Calls: 300, Concurrency: 2}
	}
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	url, cert := serveTLS(t, srv)
	return url, cert, est
}

func TestCheckReportsWhatASyncNeeds(t *testing.T) {
	t.Parallel()
	url, cert, est := checkEstate(t, emulator.Options{})
	code, out, errOut := run(t, "check", "--config", credentials(t, "emulator"), "--gateway", url, "--api", url, "--ca-cert", cert)
	if code != ExitOK || errOut != "" {
		t.Fatalf("check exited %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"gateway login", "PCRS policy list  ok: 4 policies, 3 to sync", "PCRS limits  25 calls per 1m0s per API", "PCRS host ids", "ok: 40 hosts in 3 policies",
		"PCRS posture", "platform (about.php)  web 10.", "classic policy list  ok: 4 policies", "classic control list  ok",
		"classic posture info  ok: 10 records", "classic limits  300 calls per 1h0m0s", "2 at once, 1 running (this call included)",
		"a sync would touch  3 policies, 40 hosts, about ", "estimated duration  about"} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	var total int64
	for _, p := range est.Policies() {
		if p.Active() {
			total += est.Counts(p.ID).Records
		}
	}
	m := regexp.MustCompile(`about ([\d,]+) records`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no record estimate in\n%s", out)
	}
	n, _ := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	if n < total*7/10 || n > total*13/10 {
		t.Fatalf("estimated %d records; the policies hold %d", n, total)
	}
}

// squeeze collapses runs of spaces (the table's padding) to two.
func squeeze(s string) string {
	for strings.Contains(s, "   ") {
		s = strings.ReplaceAll(s, "   ", "  ")
	}
	return s
}

func TestCheckSaysWhatToFixForEachFailure(t *testing.T) {
	t.Parallel()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return "https://" + ln.Addr().String()
	}()
	for _, tc := range []struct {
		name     string
		opts     emulator.Options
		password string
		gateway  string // "" the emulator's; "-" none
		noCA     bool
		code     int
		want     []string
		extra    []string // more flags
	}{
		{"wrong password", emulator.Options{}, "wrong", "", false, ExitAuth,
			[]string{"problem: gateway login: ", "refused the credentials (HTTP 401): check QUALYS_USERNAME and QUALYS_PASSWORD",
				"problem: classic policy list: "}, nil},
		{"gateway unreachable", emulator.Options{}, "emulator", closed, false, ExitAPI,
			[]string{"problem: gateway login: cannot reach " + closed}, nil},
		{"classic API not enabled for the user", emulator.Options{Faults: emulator.Faults{DenyClassic: true}}, "emulator", "", false, ExitAPI,
			[]string{"problem: classic policy list: the classic API refused this user: API access is not enabled for it in Qualys"}, nil},
		{"PCRS not enabled", emulator.Options{Faults: emulator.Faults{DenyPCRS: true}}, "emulator", "", false, ExitAPI,
			[]string{"problem: PCRS policy list: the gateway refused this user (HTTP 403", "posture streaming API is not enabled"}, nil},
		{"classic rate limit spent", emulator.Options{Faults: emulator.Faults{ConflictStorm: 100}}, "emulator", "", false, ExitAPI,
			[]string{"problem: classic policy list: the classic API's rate limit is spent (code 1965"}, nil},
		{"outage", emulator.Options{Faults: emulator.Faults{Status5xx: 100}}, "emulator", "", false, ExitAPI,
			[]string{"problem: gateway login: ", "answered HTTP 503", "try again later"}, nil},
		{"certificate not trusted", emulator.Options{}, "emulator", "", true, ExitAPI,
			[]string{"does not verify", "give --ca-cert FILE"}, nil},
		{"not a Qualys URL", emulator.Options{}, "emulator", "/nothing/here", false, ExitAPI,
			[]string{"problem: gateway login: ", "answered 404", "check --gateway, --api or --platform"}, nil},
		{"a policy Qualys does not have", emulator.Options{}, "emulator", "", false, ExitAPI,
			[]string{"problem: policies asked for: the PCRS policy list has no policy 999 (of 4 policies): a sync would report each as failed and exit 5"},
			[]string{"--policy", "4100002,999"}},
		{"records that do not decode", emulator.Options{Faults: emulator.Faults{MalformedEvery: 7}}, "emulator", "", false, ExitAPI,
			[]string{"problem: PCRS posture: ", " records of policy ", " do not decode (first: record 7 at byte ", "rejects file and exit 5"}, nil},
		{"classic records that do not decode", emulator.Options{Faults: emulator.Faults{MalformedEvery: 4}}, "emulator", "", false, ExitAPI,
			[]string{"problem: classic posture info: ", "of the first page's 10 records of policy ", "is not a number", "rejects file and exit 5"},
			[]string{"--source", "classic"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, cert := checkEmulator(t, tc.opts)
			gw := url
			switch {
			case strings.HasPrefix(tc.gateway, "/"):
				gw = url + tc.gateway
			case tc.gateway != "":
				gw = tc.gateway
			}
			args := append([]string{"check", "--config", credentials(t, tc.password), "--gateway", gw, "--api", url}, tc.extra...)
			if !tc.noCA {
				args = append(args, "--ca-cert", cert)
			}
			code, out, errOut := run(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("no %q in\n%s", w, errOut)
				}
			}
			if !strings.Contains(out, "FAILED") {
				t.Errorf("the table shows no failure:\n%s", out)
			}
		})
	}
}

package qualys

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

// TestGatewayRetryPolicy walks the gateway client's failure paths: each
// kind of failure is retried as the policy says, and no further.
func TestGatewayRetryPolicy(t *testing.T) {
	t.Parallel()
	fast := func(int) time.Duration { return time.Millisecond }
	for _, tc := range []struct {
		name   string
		faults emulator.Faults
		opts   func(*Options)
		calls  int    // policy/list calls the emulator answers
		err    string // "" for success
	}{
		{"outage shorter than the retries", emulator.Faults{Status5xx: 2}, nil, 3, ""},
		{"outage longer than the retries", emulator.Faults{Status5xx: 10}, func(o *Options) { o.MaxRetries = 3 }, 0, "HTTP 503"},
		{"a policy that retries nothing", emulator.Faults{Status5xx: 1},
			func(o *Options) { o.CheckRetry = func(context.Context, error) Retry { return RetryNever } }, 0, "HTTP 503"},
		{"429 waited out", emulator.Faults{RateLimitStorm: 1}, nil, 2, ""},
		{"429 with no waits allowed", emulator.Faults{RateLimitStorm: 1}, func(o *Options) { o.MaxRateWaits = 0 }, 1, "limits still exceeded after 0 waits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, url := emulatorWith(t, emulator.Options{Faults: tc.faults})
			o := complete(Options{GatewayURL: url, Username: "pcsync", Password: "emulator", Backoff: fast})
			if tc.opts != nil {
				tc.opts(&o)
			}
			c, err := NewClient(o)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = c.PCRS.ListPolicies(t.Context(), nil)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if tc.calls > 0 && srv.Calls("policy/list") != tc.calls {
				t.Fatalf("%d policy list calls, want %d", srv.Calls("policy/list"), tc.calls)
			}
		})
	}
}

// TestGatewayLogsInAgainTwiceAtMost: a posture call whose token keeps being
// refused logs in again twice, then reports the 401.
func TestGatewayLogsInAgainTwiceAtMost(t *testing.T) {
	t.Parallel()
	srv, url := emulatorWith(t, emulator.Options{Faults: emulator.Faults{Unauthorized: 100}})
	c := newTestClient(t, url, "emulator", nil)
	_, err := c.PCRS.Posture(t.Context(), &PostureRequest{})
	if !errors.Is(err, ErrUnauthorized) || c.Logins() != 1+maxLogins || srv.Calls("postureInfo") != 1+maxLogins {
		t.Fatalf("error %v after %d logins and %d calls; want a 401 after %d of each", err, c.Logins(), srv.Calls("postureInfo"), 1+maxLogins)
	}
}

// TestClassicRetryPolicy walks the classic client's failure paths.
func TestClassicRetryPolicy(t *testing.T) {
	t.Parallel()
	unlimited := emulator.ClassicLimits{Calls: -1, Concurrency: -1}
	for _, tc := range []struct {
		name   string
		opts   emulator.Options
		client func(*Options)
		calls  int
		err    string
	}{
		{"409 1965 waited out (X-RateLimit-ToWait-Sec: 1)", emulator.Options{Classic: unlimited, Faults: emulator.Faults{ConflictStorm: 1}}, nil, 2, ""},
		{"409 1965 with no waits allowed", emulator.Options{Classic: unlimited, Faults: emulator.Faults{ConflictStorm: 1}},
			func(o *Options) { o.MaxRateWaits = 0 }, 1, "code 1965"},
		{"outage shorter than the retries", emulator.Options{Classic: unlimited, Faults: emulator.Faults{Status5xx: 2}}, nil, 3, ""},
		{"outage longer than the retries", emulator.Options{Classic: unlimited, Faults: emulator.Faults{Status5xx: 10}},
			func(o *Options) { o.MaxRetries = 2 }, 3, "giving up after 2 retries"},
		{"refused credentials are not retried", emulator.Options{Classic: unlimited, Password: "other"}, nil, 1, "login to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, url := emulatorWith(t, tc.opts)
			o := complete(Options{APIURL: url, Username: "pcsync", Password: "emulator", Backoff: func(int) time.Duration { return time.Millisecond }})
			if tc.client != nil {
				tc.client(&o)
			}
			c, err := NewClient(o)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Classic.ListPolicies(t.Context(), nil)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if srv.Calls("classic/policy") != tc.calls {
				t.Fatalf("%d calls, want %d", srv.Calls("classic/policy"), tc.calls)
			}
			if strings.Contains(tc.name, "waited out") && time.Since(start) < 900*time.Millisecond {
				t.Fatalf("answered after %s: X-RateLimit-ToWait-Sec (1 s) was not waited", time.Since(start))
			}
		})
	}
}

// TestClassicGateWakesWaiters: a waiter gets the slot as soon as it frees,
// waits out a pause, and leaves when its context ends.
func TestClassicGateWakesWaiters(t *testing.T) {
	t.Parallel()
	g := newClassicGate(1)
	release, err := g.acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan time.Time, 1)
	go func() {
		r, err := g.acquire(context.Background())
		if err == nil {
			got <- time.Now()
			r()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	freed := time.Now()
	release()
	select {
	case at := <-got:
		if d := at.Sub(freed); d > 20*time.Millisecond {
			t.Fatalf("the waiter took the slot %s after it freed", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the waiter never got the freed slot")
	}
	g.pause(150 * time.Millisecond)
	start := time.Now()
	r, err := g.acquire(t.Context())
	if err != nil || time.Since(start) < 140*time.Millisecond {
		t.Fatalf("acquired after %s during a 150 ms pause (%v)", time.Since(start), err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a waiter whose context ended: %v", err)
	}
	r()
}

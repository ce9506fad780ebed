package engine_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
)

// cleanRun syncs estate without faults and returns the exported postures.
func cleanRun(t *testing.T, estate *emulator.Estate, opts engine.Options, mods ...func(*env, *qualys.Options)) map[int64]map[string]any {
	t.Helper()
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	st := openStore(t)
	mod := func(o *qualys.Options) {
		for _, m := range mods {
			m(env, o)
		}
	}
	if _, err := engine.New(env.client(t, mod), st, nil).Run(t.Context(), complete(opts)); err != nil {
		t.Fatalf("clean run: %v", err)
	}
	return exported(t, st)
}

func sameAsClean(t *testing.T, clean, got map[int64]map[string]any) {
	t.Helper()
	if len(got) != len(clean) {
		t.Fatalf("%d postures stored, a clean run stores %d", len(got), len(clean))
	}
	if diff := cmp.Diff(clean, got); diff != "" {
		t.Fatalf("database differs from a clean run's (-clean +got):\n%s", diff)
	}
}

func checkSummaries(t *testing.T, estate *emulator.Estate, res *engine.Result) {
	t.Helper()
	if res.Run.Status != compliance.RunSucceeded {
		t.Fatalf("run status %s (%s), want succeeded", res.Run.Status, res.Run.Message)
	}
	for _, s := range res.Policies {
		if c := estate.Counts(s.PolicyID); s.Records != c.Records || s.Passed != c.Passed || s.Failed != c.Failed {
			t.Fatalf("policy %d summary %+v, want counts %+v (a retried batch must not count twice)", s.PolicyID, s, c)
		}
	}
}

func TestBrokenStreamsAreFetchedAgainWithoutDoubling(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 8, Concurrency: 2, Compression: true, Evidence: true, TxRecords: 50, ChunkRecords: 10}
	clean := cleanRun(t, estate, opts)
	for _, tc := range []struct {
		name   string
		faults emulator.Faults
		gzip   bool
	}{
		{"cut-mid-gzip", emulator.Faults{CutAfter: 3000, CutStreams: 3}, true},
		{"cut-mid-json", emulator.Faults{CutAfter: 20000, CutStreams: 3}, false},
		{"cut-before-first-record", emulator.Faults{CutAfter: 1, CutStreams: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: tc.faults})
			st := openStore(t)
			eng := engine.New(env.client(t, nil), st, nil)
			o := opts
			o.Compression = tc.gzip
			o.RetryBackoff = func(int) time.Duration { return time.Millisecond }
			res, err := eng.Run(t.Context(), complete(o))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got := eng.Progress.Retries.Load(); got != int64(tc.faults.CutStreams) {
				t.Fatalf("%d batches fetched again, the emulator cut %d streams", got, tc.faults.CutStreams)
			}
			checkSummaries(t, estate, res)
			sameAsClean(t, clean, exported(t, st))
		})
	}
}

func TestBatchThatKeepsBreakingIsReportedAndGoodRecordsKept(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: emulator.Faults{CutAfter: 30000}})
	st := openStore(t)
	eng := engine.New(env.client(t, nil), st, nil)
	res, err := eng.Run(t.Context(), complete(engine.Options{HostsPerRequest: 20, MaxStreamRetries: 2, Compression: false,
		RetryBackoff: func(int) time.Duration { return time.Millisecond }}))
	if err == nil || res.Run.Status != compliance.RunFailed {
		t.Fatalf("run ended %v (%s); want a failed run", err, res.Run.Status)
	}
	if got := eng.Progress.Retries.Load(); got != 2*3 {
		t.Fatalf("%d refetches, want 2 for each of the 3 batches", got)
	}
	for _, s := range res.Policies {
		if s.Error == "" || s.Records != 0 {
			t.Fatalf("policy %d: %+v; want an error and no completed batch", s.PolicyID, s)
		}
	}
	if n := len(exported(t, st)); n == 0 {
		t.Fatal("the records that arrived before each cut were not kept")
	}
}

func TestExpiredTokenIsRenewedAndTheRunCompletes(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 10, Compression: true}
	clean := cleanRun(t, estate, opts)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: emulator.Faults{Unauthorized: 2}})
	st := openStore(t)
	client := env.client(t, nil)
	res, err := engine.New(client, st, nil).Run(t.Context(), complete(opts))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// Two workers' 401s may fall on one token (one re-login) or on two:
	// at least one re-login happened, and no more than one per 401.
	if n := client.Logins(); n < 2 || n > 3 {
		t.Fatalf("%d logins, want the first and at most one per 401 (2 or 3)", n)
	}
	checkSummaries(t, estate, res)
	sameAsClean(t, clean, exported(t, st))
}

func TestTokenIsRenewedBeforeItExpires(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	// Tokens live 3 s; with a 5 s renewal margin each call gets a fresh one,
	// so no call is ever refused.
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, TokenTTL: 3 * time.Second})
	st := openStore(t)
	client := env.client(t, nil)
	res, err := engine.New(client, st, nil).Run(t.Context(), complete(engine.Options{HostsPerRequest: 10, Compression: true}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkSummaries(t, estate, res)
	calls := env.server.Calls("policy/list") + env.server.Calls("hostids") + env.server.Calls("postureInfo")
	if client.Logins() != calls {
		t.Fatalf("%d logins for %d calls; want a fresh token before each", client.Logins(), calls)
	}
}

func TestRateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 10, Concurrency: 2, Compression: true}
	clean := cleanRun(t, estate, opts)
	// The emulator allows 2 calls per second per API; the client believes
	// it may make 100, so it meets 429s and must wait as Retry-After says.
	env := startEmulator(t, estate, emulator.Options{RateCalls: 2, RateWindow: time.Second})
	st := openStore(t)
	client := env.client(t, func(o *qualys.Options) { o.RateCalls, o.RateWindow = 100, time.Second })
	start := time.Now()
	res, err := engine.New(client, st, nil).Run(t.Context(), complete(opts))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	posture := env.server.Calls("postureInfo")
	if posture <= int(res.Run.Batches) {
		t.Fatalf("%d postureInfo calls for %d batches: the emulator never refused one", posture, res.Run.Batches)
	}
	// 6 batches at 2 per second take at least 2 s whatever the retries.
	if d := time.Since(start); d < 2*time.Second {
		t.Fatalf("run took %s; it cannot have respected the limit", d)
	}
	checkSummaries(t, estate, res)
	sameAsClean(t, clean, exported(t, st))
}

// TestTransientFaultsLeaveTheSameDatabase runs the sync against each fault
// the emulator can inject that a retry cures, and compares the database
// with a fault-free run's.
func TestTransientFaultsLeaveTheSameDatabase(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 8, Concurrency: 2, Compression: true, TxRecords: 50,
		RetryBackoff: func(int) time.Duration { return time.Millisecond }, Classic: classicParams("60")}
	clean := cleanRun(t, estate, opts)
	classicOnly := func(e *env, o *qualys.Options) { o.APIURL, o.GatewayURL = e.url, "" }
	cleanClassic := cleanRun(t, estate, opts, classicOnly)
	for _, tc := range []struct {
		name    string
		faults  emulator.Faults
		classic bool
		idle    time.Duration
		check   string // the emulator's count of the injected fault
	}{
		{"connection resets", emulator.Faults{ResetPercent: 40}, false, 0, "reset"},
		{"slow stream", emulator.Faults{Trickle: 15 * time.Millisecond}, false, 0, ""},
		{"stalled stream", emulator.Faults{StallFor: 1500 * time.Millisecond, StallStreams: 2}, false, 300 * time.Millisecond, "stall"},
		{"corrupt gzip", emulator.Faults{CorruptAfter: 500, CorruptStreams: 2}, false, 0, "corrupt"},
		{"garbage in a stream", emulator.Faults{BrokenStreams: 2}, false, 0, "broken"},
		{"5xx", emulator.Faults{Status5xx: 2}, false, 0, "5xx:postureInfo"},
		{"429 storm", emulator.Faults{RateLimitStorm: 4}, false, 0, "429"},
		// at most two: a request gives up after two logins in a row are
		// refused, and both workers may draw from the same faults
		{"401 mid-run", emulator.Faults{Unauthorized: 2}, false, 0, "401"},
		{"classic 409 storm", emulator.Faults{ConflictStorm: 4}, true, 0, "409"},
		{"classic 5xx", emulator.Faults{Status5xx: 2}, true, 0, "5xx:classic/posture"},
		{"classic page cut", emulator.Faults{CutAfter: 3000, CutStreams: 2}, true, 0, "cut"},
		{"classic broken XML", emulator.Faults{BrokenStreams: 2}, true, 0, "broken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1},
				Faults: tc.faults})
			st := openStore(t)
			o := opts
			mod := func(q *qualys.Options) {
				if tc.idle > 0 {
					q.IdleTimeout = tc.idle
				}
				if tc.classic {
					q.APIURL, q.GatewayURL = env.url, ""
				}
			}
			res, err := engine.New(env.client(t, mod), st, nil).Run(t.Context(), complete(o))
			if err != nil {
				t.Fatalf("run: %v (%s) %+v", err, res.Run.Message, res.Policies)
			}
			if tc.check != "" && env.server.Injected(tc.check) == 0 {
				t.Fatalf("the emulator injected no %q; the test proves nothing", tc.check)
			}
			// the ledger counts what the faults cost: a wait per limit
			// answer, a retry per failed request or broken stream
			n := int64(env.server.Injected(tc.check))
			switch tc.check {
			case "429", "409":
				if res.Run.Throttles != n {
					t.Errorf("run recorded %d throttles for %d limit answers", res.Run.Throttles, n)
				}
			case "5xx:postureInfo", "5xx:classic/posture":
				if res.Run.Retries < n || res.Run.Throttles != 0 {
					t.Errorf("run recorded %d retries and %d throttles after %d %q faults", res.Run.Retries, res.Run.Throttles, n, tc.check)
				}
			}
			checkSummaries(t, estate, res)
			want := clean
			if tc.classic {
				want = cleanClassic
			}
			sameAsClean(t, want, exported(t, st))
		})
	}
}

// TestBrokenDataIsReportedAndGoodRecordsKept: records that do not decode
// go to the rejects file with their batch, position and reason, every other
// record is stored, and the run ends failed; a stream that is garbage every
// time fails its batch, with why, after the bounded retries.
func TestBrokenDataIsReportedAndGoodRecordsKept(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	total := len(expected(t, estate, emulator.StreamOptions{}))
	for _, classic := range []bool{false, true} {
		name := map[bool]string{false: "pcrs", true: "classic"}[classic]
		t.Run(name+"/malformed records", func(t *testing.T) {
			t.Parallel()
			env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1},
				Faults: emulator.Faults{MalformedEvery: 10}})
			st := openStore(t)
			rejects := engine.NewRejectFile(filepath.Join(t.TempDir(), "rejects.ndjson"))
			defer rejects.Close()
			mod := func(q *qualys.Options) {
				if classic {
					q.APIURL, q.GatewayURL = env.url, ""
				}
			}
			res, err := engine.New(env.client(t, mod), st, nil).Run(t.Context(), complete(engine.Options{HostsPerRequest: 8, Compression: true,
				Rejects: rejects, Classic: classicParams("1000")}))
			if !errors.Is(err, engine.ErrIncomplete) || res.Run.Status != compliance.RunFailed {
				t.Fatalf("run: %v, %s", err, res.Run.Status)
			}
			stored := len(exported(t, st))
			if int64(stored)+res.Run.Rejects != int64(total) || res.Run.Rejects == 0 || rejects.Count() != int(res.Run.Rejects) {
				t.Fatalf("%d stored + %d rejected (%d in the file) of %d records", stored, res.Run.Rejects, rejects.Count(), total)
			}
		})
	}
	t.Run("pcrs/garbage every time", func(t *testing.T) {
		t.Parallel()
		env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: emulator.Faults{BrokenStreams: 1000}})
		st := openStore(t)
		res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{HostsPerRequest: 8, Compression: true,
			MaxStreamRetries: 2, RetryBackoff: func(int) time.Duration { return time.Millisecond }}))
		if !errors.Is(err, engine.ErrIncomplete) {
			t.Fatalf("run: %v", err)
		}
		for _, p := range res.Policies {
			if !strings.Contains(p.Error, "batch ") || !strings.Contains(p.Error, "malformed JSON stream at byte") {
				t.Fatalf("policy %d: error %q does not say which batch failed and why", p.PolicyID, p.Error)
			}
		}
		// each stream's first two records arrive before the garbage
		if n := len(exported(t, st)); n == 0 {
			t.Fatal("the good records before the garbage were not kept")
		}
	})
}

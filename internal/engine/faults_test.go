package engine_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
)

// cleanRun syncs estate without faults and returns the exported postures.
func cleanRun(t *testing.T, estate *emulator.Estate, opts engine.Options) map[int64]map[string]any {
	t.Helper()
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	if _, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), opts); err != nil {
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
			res, err := eng.Run(t.Context(), o)
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
	res, err := eng.Run(t.Context(), engine.Options{HostsPerRequest: 20, MaxStreamRetries: 2, Compression: false,
		RetryBackoff: func(int) time.Duration { return time.Millisecond }})
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
	res, err := engine.New(client, st, nil).Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if client.Logins() != 3 {
		t.Fatalf("%d logins, want 3 (the first and one per 401)", client.Logins())
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
	res, err := engine.New(client, st, nil).Run(t.Context(), engine.Options{HostsPerRequest: 10, Compression: true})
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
	res, err := engine.New(client, st, nil).Run(t.Context(), opts)
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

package engine_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/store"
	"pcsync/internal/store/sqlite"
)

// cutEverything is an emulator whose every posture stream breaks off.
func cutEverything(t *testing.T, estate *emulator.Estate) *env {
	return startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: emulator.Faults{CutAfter: 150}})
}

var noRetries = engine.Options{MaxStreamRetries: -1, RetryBackoff: func(int) time.Duration { return 0 }}

func TestFailedRunResumedToTheEndSucceeds(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := noRetries
	opts.HostsPerRequest, opts.Compression = 6, true
	clean := cleanRun(t, estate, opts)
	st := openStore(t)
	res, err := engine.New(cutEverything(t, estate).client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if !errors.Is(err, engine.ErrIncomplete) || !strings.Contains(res.Run.Message, "batches failed") {
		t.Fatalf("a run whose streams are cut: %v, %q", err, res.Run.Message)
	}
	res, err = engine.New(startEmulator(t, estate, emulator.Options{RateCalls: -1}).client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || !res.Resumed || res.Run.ID != 1 || res.Run.Status != compliance.RunSucceeded || res.Run.Message != "" {
		t.Fatalf("the resumed run: %v, %+v", err, res.Run)
	}
	for _, p := range res.Policies {
		if p.Error != "" || p.FailedBatches != 0 {
			t.Fatalf("policy %d still reports %q after its batches were stored", p.PolicyID, p.Error)
		}
	}
	checkSummaries(t, estate, res)
	sameAsClean(t, clean, exported(t, st))
	if last, err := st.LastSucceeded(t.Context()); err != nil || last.ID != 1 {
		t.Fatalf("last successful run: %v, %v", last, err)
	}
}

func TestResumeKeepsTheOptionsOfTheRunItResumes(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	st := openStore(t)
	started := noRetries
	started.HostsPerRequest, started.Evidence = 6, true
	if _, err := engine.New(cutEverything(t, estate).client(t, nil), st, nil).Run(t.Context(), complete(started)); !errors.Is(err, engine.ErrIncomplete) {
		t.Fatalf("first run: %v", err)
	}
	good := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	for _, tc := range []struct {
		name string
		mod  func(*engine.Options)
		want string
	}{
		{"without evidence", func(o *engine.Options) { o.Evidence = false }, "evidence"},
		{"other policies", func(o *engine.Options) { o.PolicyIDs = []int64{estate.Policies()[0].ID} }, "policyIds"},
		{"a filter", func(o *engine.Options) { o.LastScanDate = estate.Now().Add(-time.Hour) }, "lastScanDate"},
	} {
		opts := started
		tc.mod(&opts)
		_, err := engine.New(good.client(t, nil), st, nil).Run(t.Context(), complete(opts))
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--restart") {
			t.Fatalf("%s: %v; want a ConfigError naming %s and --restart", tc.name, err, tc.want)
		}
	}
	// the same options resume it, and every posture carries evidence
	res, err := engine.New(good.client(t, nil), st, nil).Run(t.Context(), complete(started))
	if err != nil || !res.Resumed {
		t.Fatalf("resume with the run's options: %v", err)
	}
	want := expected(t, estate, emulator.StreamOptions{Evidence: true})
	got := exported(t, st)
	if len(got) != len(want) {
		t.Fatalf("%d postures stored, want %d", len(got), len(want))
	}
	for id, p := range got {
		if p["evidence"] == nil && want[id]["evidence"] != nil {
			t.Fatalf("posture %d lost its evidence", id)
		}
	}
}

func TestResumedIncrementalRunRefusesFull(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	st := openStore(t)
	if _, err := engine.New(startEmulator(t, estate, emulator.Options{RateCalls: -1}).client(t, nil), st, nil).Run(t.Context(), complete(noRetries)); err != nil {
		t.Fatal(err)
	}
	cut := cutEverything(t, estate)
	cut.server.Advance(time.Time{})
	res, err := engine.New(cut.client(t, nil), st, nil).Run(t.Context(), complete(noRetries))
	if !errors.Is(err, engine.ErrIncomplete) || res.Run.Mode != compliance.ModeIncremental {
		t.Fatalf("incremental run with cut streams: %v (%s)", err, res.Run.Mode)
	}
	full := noRetries
	full.Full = true
	_, err = engine.New(cut.client(t, nil), st, nil).Run(t.Context(), complete(full))
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "--full") {
		t.Fatalf("--full while an incremental run is unfinished: %v", err)
	}
}

// TestHostsBackInAPolicyAreFetchedWholeAfterAFailedRun: the run that sees a
// host return to a policy fails before fetching it; the next run (here
// after --restart) must still fetch all its postures, not just recent
// changes, and none may stay stale.
func TestHostsBackInAPolicyAreFetchedWholeAfterAFailedRun(t *testing.T) {
	t.Parallel()
	estate := churnEstate(t)
	good := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	cut := cutEverything(t, estate)
	st := openStore(t)
	opts := noRetries
	opts.HostsPerRequest = 7
	if _, err := engine.New(good.client(t, nil), st, nil).Run(t.Context(), complete(opts)); err != nil {
		t.Fatal(err)
	}
	revived := 0
	for cycle := 1; cycle <= 4; cycle++ {
		at := good.server.Advance(time.Time{}).Now()
		cut.server.Advance(at)
		if _, err := engine.New(cut.client(t, nil), st, nil).Run(t.Context(), complete(opts)); !errors.Is(err, engine.ErrIncomplete) {
			t.Fatalf("cycle %d: the run with cut streams: %v", cycle, err)
		}
		restart := opts
		restart.Restart = true
		res, err := engine.New(good.client(t, nil), st, nil).Run(t.Context(), complete(restart))
		if err != nil || res.Run.Mode != compliance.ModeIncremental {
			t.Fatalf("cycle %d: restarted run: %v (%s)", cycle, err, res.Run.Mode)
		}
		served := records(t, good.server.Estate())
		now := storedPostures(t, st, nil)
		stale := staleNow(t, st)
		for id, r := range served {
			if now[id] != r.Status {
				t.Fatalf("cycle %d: posture %d is %q, Qualys says %q", cycle, id, now[id], r.Status)
			}
			if stale[id] {
				t.Fatalf("cycle %d: posture %d is served but still stale", cycle, id)
			}
		}
		_ = st.Changes(t.Context(), res.Run.ID-1, res.Run.ID, func(c *compliance.Change) error {
			if c.Kind == "revived" {
				revived++
			}
			return nil
		})
	}
	if revived == 0 {
		t.Fatal("no host came back to a policy; the test proves nothing")
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// TestRejectsSurviveAnInterruption: the records an interrupted run could
// not decode are still counted when it is resumed, the rejects file holds
// each once, and the run does not call stale what it could not read.
func TestRejectsSurviveAnInterruption(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 4, Compression: true, TxRecords: 20, ChunkRecords: 8, Full: true}
	// the rejects of an uninterrupted run with the same faults
	faults := emulator.Faults{MalformedEvery: 25}
	whole := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: faults})
	ref, err := engine.New(whole.client(t, nil), openStore(t), nil).Run(t.Context(), complete(opts))
	if !errors.Is(err, engine.ErrIncomplete) || ref.Run.Rejects == 0 {
		t.Fatalf("reference run: %v, %d rejects", err, ref.Run.Rejects)
	}

	st := openStore(t)
	if _, err := engine.New(startEmulator(t, estate, emulator.Options{RateCalls: -1}).client(t, nil), st, nil).Run(t.Context(), complete(opts)); err != nil {
		t.Fatal(err)
	}
	faults.Trickle = 20 * time.Millisecond
	slow := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: faults})
	path := filepath.Join(t.TempDir(), "rejects.ndjson")
	sink := engine.NewRejectFile(path)
	opts.Rejects = sink
	eng := engine.New(slow.client(t, nil), st, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for eng.Progress.Rejects.Load() == 0 || eng.Progress.BatchesDone.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	res, err := eng.Run(ctx, complete(opts))
	if !errors.Is(err, context.Canceled) || res.Run.ID != 2 {
		t.Fatalf("interrupted run: %v", err)
	}
	before := eng.Progress.Rejects.Load()
	eng2 := engine.New(whole.client(t, nil), st, nil)
	res, err = eng2.Run(t.Context(), complete(opts))
	sink.Close()
	if !errors.Is(err, engine.ErrIncomplete) || !res.Resumed || res.Run.ID != 2 {
		t.Fatalf("resumed run: %v (resumed %v, run %d)", err, res.Resumed, res.Run.ID)
	}
	if res.Run.Rejects != ref.Run.Rejects || eng2.Progress.Rejects.Load() >= res.Run.Rejects || before == 0 {
		t.Fatalf("resumed run counts %d rejects (this invocation %d, the first %d); an uninterrupted run %d",
			res.Run.Rejects, eng2.Progress.Rejects.Load(), before, ref.Run.Rejects)
	}
	if n := countLines(t, path); n != int(ref.Run.Rejects) {
		t.Fatalf("the rejects file has %d lines for %d rejects", n, ref.Run.Rejects)
	}
	served := records(t, estate)
	for id := range staleNow(t, st) {
		if _, ok := served[id]; ok {
			t.Fatalf("posture %d is served (but did not decode) and was marked stale", id)
		}
	}
}

// stopAtEndLoad is the real store, with Ctrl-C pressed as the last batch
// has been stored and the end steps begin.
type stopAtEndLoad struct {
	*sqlite.Store
	cancel context.CancelFunc
}

func (s stopAtEndLoad) EndLoad(ctx context.Context) error {
	s.cancel()
	return s.Store.EndLoad(ctx)
}

var _ engine.Store = stopAtEndLoad{}

func TestRunStoppedInItsEndStepsIsFinishedByTheNext(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 5, Compression: true}
	clean := cleanRun(t, estate, opts)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	res, err := engine.New(env.client(t, nil), stopAtEndLoad{st, cancel}, nil).Run(ctx, complete(opts))
	if !errors.Is(err, context.Canceled) || res.Run.Status != compliance.RunInterrupted {
		t.Fatalf("run stopped after its last batch: %v, %s", err, res.Run.Status)
	}
	if _, err := st.LastSucceeded(t.Context()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an interrupted run counts as succeeded: %v", err)
	}
	res, err = engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || !res.Resumed || res.Run.ID != 1 || res.Run.Status != compliance.RunSucceeded || res.Fetched != 0 {
		t.Fatalf("the next run: %v, resumed %v, %+v, fetched %d", err, res.Resumed, res.Run, res.Fetched)
	}
	checkSummaries(t, estate, res)
	sameAsClean(t, clean, exported(t, st))
	res, err = engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || res.Run.Mode != compliance.ModeIncremental {
		t.Fatalf("the run after: %v (%s); want incremental from run 1", err, res.Run.Mode)
	}
}

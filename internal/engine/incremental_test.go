package engine_test

import (
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

// churnEstate flips many statuses and moves hosts in and out at each cycle.
func churnEstate(t *testing.T) *emulator.Estate {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 2, 0, 40, 30, 10
	cfg.FlipPermille, cfg.ChurnPercent = 150, 10
	e, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// records is every record the estate serves now, by posture id.
func records(t *testing.T, e *emulator.Estate) map[int64]compliance.Posture {
	t.Helper()
	out := map[int64]compliance.Posture{}
	for _, p := range e.Policies() {
		ids, _ := e.PolicyHostIDs(p.ID, time.Time{})
		e.EachPosture([]emulator.PolicyRequest{{PolicyID: p.ID, HostIDs: ids}}, emulator.StreamOptions{}, func(r *compliance.Posture) bool {
			out[r.ID] = *r
			return true
		})
	}
	return out
}

func storedPostures(t *testing.T, st *sqlite.Store, ids map[int64]compliance.Posture) map[int64]compliance.Status {
	t.Helper()
	out := map[int64]compliance.Status{}
	if err := st.Postures(t.Context(), func(p *compliance.Posture) error { out[p.ID] = p.Status; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func history(t *testing.T, st *sqlite.Store) []compliance.StatusChange {
	t.Helper()
	var out []compliance.StatusChange
	if err := st.History(t.Context(), func(c *compliance.StatusChange) error { out = append(out, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func staleIDs(t *testing.T, st *sqlite.Store, run int64) map[int64]bool {
	t.Helper()
	out := map[int64]bool{}
	if err := st.Changes(t.Context(), run-1, run, func(c *compliance.Change) error {
		if c.Kind == "stale" {
			out[c.PostureID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIncrementalRunsFindExactlyTheChanges(t *testing.T) {
	t.Parallel()
	estate := churnEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	sync := func(want string) *engine.Result {
		t.Helper()
		res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{HostsPerRequest: 7, Compression: true}))
		if err != nil || res.Run.Mode != want {
			t.Fatalf("run: %v, mode %q (want %q)", err, res.Run.Mode, want)
		}
		return res
	}
	sync(compliance.ModeFull)
	before := records(t, env.server.Estate())
	if got := storedPostures(t, st, before); len(got) != len(before) {
		t.Fatalf("the full run stored %d postures, the estate has %d", len(got), len(before))
	}

	for cycle := 1; cycle <= 2; cycle++ {
		est := env.server.Advance(time.Time{})
		after := records(t, est)
		was := storedPostures(t, st, nil)
		staleBefore := staleNow(t, st)
		res := sync(compliance.ModeIncremental)
		// history: exactly the served records whose stored status changed
		// (hosts back in a policy bring the changes of the cycles they missed)
		want := map[int64][2]compliance.Status{}
		for id, r := range after {
			if old, ok := was[id]; ok && old != r.Status {
				want[id] = [2]compliance.Status{old, r.Status}
			}
		}
		got := map[int64][2]compliance.Status{}
		for _, h := range history(t, st) {
			if h.RunID == res.Run.ID {
				if _, dup := got[h.PostureID]; dup {
					t.Fatalf("cycle %d: posture %d has two history rows", cycle, h.PostureID)
				}
				got[h.PostureID] = [2]compliance.Status{h.OldStatus, h.NewStatus}
			}
		}
		if len(want) == 0 {
			t.Fatalf("cycle %d changed nothing; the test proves nothing", cycle)
		}
		for id, w := range want {
			if got[id] != w {
				t.Errorf("cycle %d: posture %d changed %v, history says %v", cycle, id, w, got[id])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("cycle %d: %d history rows, %d changes", cycle, len(got), len(want))
		}
		// current state: every record served now, with its status now
		now := storedPostures(t, st, nil)
		for id, r := range after {
			if now[id] != r.Status {
				t.Fatalf("cycle %d: posture %d is %s, the estate says %s", cycle, id, now[id], r.Status)
			}
		}
		// stale: exactly the postures of hosts that left, not served now
		stale := staleIDs(t, st, res.Run.ID)
		for id := range before {
			if _, served := after[id]; !served && !stale[id] {
				if _, seenBefore := now[id]; seenBefore && wasLive(before, id) {
					t.Errorf("cycle %d: posture %d is no longer served but not marked stale", cycle, id)
				}
			}
		}
		for id := range stale {
			if _, served := after[id]; served {
				t.Fatalf("cycle %d: posture %d is served but was marked stale", cycle, id)
			}
		}
		if len(stale) == 0 {
			t.Fatalf("cycle %d: no host left any policy; the test proves nothing", cycle)
		}
		// diff: the same changes, counted
		var wantDiff, gotDiff compliance.PolicyDiff
		for _, w := range want {
			switch w[1] {
			case compliance.StatusFailed:
				wantDiff.NewlyFailing++
			case compliance.StatusPassed:
				wantDiff.NewlyPassing++
			default:
				wantDiff.NewlyError++
			}
		}
		for id := range after {
			if _, ok := was[id]; !ok {
				wantDiff.New++
			}
			if staleBefore[id] {
				wantDiff.Revived++
			}
		}
		for id := range was {
			if _, served := after[id]; !served && !staleBefore[id] {
				wantDiff.Stale++
			}
		}
		t.Logf("cycle %d: %+v", cycle, wantDiff)
		diffs, err := st.Diff(t.Context(), res.Run.ID-1, res.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range diffs {
			gotDiff.NewlyFailing += d.NewlyFailing
			gotDiff.NewlyPassing += d.NewlyPassing
			gotDiff.NewlyError += d.NewlyError
			gotDiff.New += d.New
			gotDiff.Stale += d.Stale
			gotDiff.Revived += d.Revived
		}
		if gotDiff != wantDiff {
			t.Fatalf("cycle %d: diff counts %+v, the emulator changed %+v", cycle, gotDiff, wantDiff)
		}
		before = after
	}
}

func wasLive(m map[int64]compliance.Posture, id int64) bool {
	_, ok := m[id]
	return ok
}

func TestFullRunAfterChurnRevivesReturningHosts(t *testing.T) {
	t.Parallel()
	estate := churnEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	full := engine.Options{HostsPerRequest: 9, Compression: true, Full: true}
	for cycle := 0; cycle <= 3; cycle++ {
		if cycle > 0 {
			env.server.Advance(time.Time{})
		}
		res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(full))
		if err != nil || res.Run.Mode != compliance.ModeFull {
			t.Fatalf("cycle %d: %v (%s)", cycle, err, res.Run.Mode)
		}
		served := records(t, env.server.Estate())
		live := 0
		err = st.Postures(t.Context(), func(p *compliance.Posture) error {
			if _, ok := served[p.ID]; ok {
				live++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stale := 0
		for id := range staleIDs(t, st, res.Run.ID) {
			stale++
			if _, ok := served[id]; ok {
				t.Fatalf("cycle %d: served posture %d marked stale", cycle, id)
			}
		}
		if live != len(served) {
			t.Fatalf("cycle %d: %d of %d served postures stored", cycle, live, len(served))
		}
		if cycle > 0 && stale == 0 {
			t.Fatalf("cycle %d: nothing went stale", cycle)
		}
	}
	// postures stale in an earlier cycle and served again are live again
	served := records(t, env.server.Estate())
	stale := staleNow(t, st)
	revived := 0
	for id := range served {
		if stale[id] {
			t.Errorf("posture %d is served but still marked stale", id)
		}
	}
	err := st.Changes(t.Context(), 0, 100, func(c *compliance.Change) error {
		if c.Kind == "revived" {
			revived++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if revived == 0 {
		t.Fatal("no stale posture came back; the test proves nothing")
	}
}

// staleNow is the set of postures whose latest staleness event marks them
// stale.
func staleNow(t *testing.T, st *sqlite.Store) map[int64]bool {
	t.Helper()
	last := map[int64]compliance.Change{}
	err := st.Changes(t.Context(), 0, 1<<40, func(c *compliance.Change) error {
		if c.Kind != "stale" && c.Kind != "revived" {
			return nil
		}
		if prev, ok := last[c.PostureID]; !ok || c.RunID > prev.RunID {
			last[c.PostureID] = *c
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]bool{}
	for id, c := range last {
		if c.Kind == "stale" {
			out[id] = true
		}
	}
	return out
}

func TestInterruptedRunIsResumedAndLosesNothing(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 4, Concurrency: 2, Compression: true, TxRecords: 20, ChunkRecords: 8}
	clean := cleanRun(t, estate, opts)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Faults: emulator.Faults{Trickle: 20 * time.Millisecond}})
	st := openStore(t)
	eng := engine.New(env.client(t, nil), st, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for eng.Progress.BatchesDone.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel() // Ctrl-C with batches done and others under way
	}()
	res, err := eng.Run(ctx, complete(opts))
	if !errors.Is(err, context.Canceled) || res.Run.Status != compliance.RunInterrupted {
		t.Fatalf("interrupted run: %v, status %s", err, res.Run.Status)
	}
	first := exported(t, st)
	if len(first) == 0 || len(first) >= len(clean) {
		t.Fatalf("the interrupted run kept %d of %d postures; the test wants some, not all", len(first), len(clean))
	}
	res, err = engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || !res.Resumed || res.Run.ID != 1 || res.Run.Status != compliance.RunSucceeded || res.Run.Mode != compliance.ModeFull {
		t.Fatalf("resumed run: %v, %+v", err, res.Run)
	}
	sameAsClean(t, clean, exported(t, st))
	checkSummaries(t, estate, res)
	if n := len(history(t, st)); n != 0 {
		t.Fatalf("%d history rows after a resumed first sync", n)
	}
}

func TestRestartDiscardsTheUnfinishedPlan(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := cutEverything(t, estate)
	st := openStore(t)
	opts := noRetries
	opts.HostsPerRequest = 10
	if _, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts)); !errors.Is(err, engine.ErrIncomplete) {
		t.Fatalf("a run whose every stream is cut: %v", err)
	}
	env2 := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	opts.Restart = true
	res, err := engine.New(env2.client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || res.Resumed || res.Run.ID != 2 || res.Run.Mode != compliance.ModeFull {
		t.Fatalf("restarted run: %v, %+v", err, res.Run)
	}
	var statuses []compliance.RunStatus
	_ = st.Runs(t.Context(), func(r *compliance.Run) error { statuses = append(statuses, r.Status); return nil })
	if len(statuses) != 2 || statuses[0] != "abandoned" {
		t.Fatalf("runs %v; want the first abandoned", statuses)
	}
}

func TestSecondSyncIsRefused(t *testing.T) {
	t.Parallel()
	env := startEmulator(t, testEstate(t), emulator.Options{RateCalls: -1})
	st := openStore(t)
	release, err := st.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, err = engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{}))
	var locked *store.LockedError
	if !errors.As(err, &locked) || locked.Holder == "" {
		t.Fatalf("a second sync: %v; want a *store.LockedError naming the holder", err)
	}
}

func TestFailedRunIsResumedTwiceThenReplanned(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := cutEverything(t, estate)
	st := openStore(t)
	opts := noRetries
	opts.HostsPerRequest = 20
	var ids []int64
	var resumed []bool
	for range 4 {
		res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts))
		if !errors.Is(err, engine.ErrIncomplete) {
			t.Fatalf("a run whose streams are always cut: %v", err)
		}
		ids, resumed = append(ids, res.Run.ID), append(resumed, res.Resumed)
	}
	if ids[0] != 1 || ids[1] != 1 || ids[2] != 1 || ids[3] != 2 || resumed[0] || !resumed[1] || !resumed[2] || resumed[3] {
		t.Fatalf("runs %v, resumed %v; want run 1 resumed twice, then run 2 planned afresh", ids, resumed)
	}
}

func TestFilteredFullRunMarksNothingStale(t *testing.T) {
	t.Parallel()
	estate := churnEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	if _, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{Full: true})); err != nil {
		t.Fatal(err)
	}
	// a full run narrowed to recently evaluated postures sees few of them
	res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{Full: true,
		LastEvaluationDate: estate.Now().Add(-time.Hour)}))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(staleIDs(t, st, res.Run.ID)); n != 0 {
		t.Fatalf("a filtered full run marked %d postures stale", n)
	}
}

func TestFullDiskStopsTheRunAndTheNextRunFinishesIt(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{HostsPerRequest: 4, Compression: true, Evidence: true, TxRecords: 20}
	clean := cleanRun(t, estate, opts)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	path := filepath.Join(t.TempDir(), "pcsync.db")
	empty, err := sqlite.Open(t.Context(), path, sqlite.Options{}) // the schema, then a disk with room for 12 pages more
	if err != nil {
		t.Fatal(err)
	}
	empty.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	full, err := sqlite.Open(t.Context(), path, sqlite.Options{MaxPages: int(fi.Size()/32768) + 12}) // 32 KiB pages: it fills mid-run
	if err != nil {
		t.Fatal(err)
	}
	_, err = engine.New(env.client(t, nil), full, nil).Run(t.Context(), complete(opts))
	full.Close()
	var se *engine.StoreError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("a run on a full disk: %v; want a StoreError saying the disk is full", err)
	}
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{}) // space freed
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(opts))
	if err != nil || !res.Resumed {
		t.Fatalf("the next run: %v (resumed %v)", err, res.Resumed)
	}
	sameAsClean(t, clean, exported(t, st))
}

package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// RunLedger checks the run ledger and the sync lock: every method of
// store.Ledger.
func RunLedger(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		test func(*testing.T, store.Writer)
	}{
		{"Runs", testRuns},
		{"Plans", testPlans},
		{"AbandonRun", testAbandonRun},
		{"LastSucceeded", testLastSucceeded},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h.fresh(t)) })
	}
	t.Run("SyncLock", func(t *testing.T) { testSyncLock(t, h) })
	t.Run("SyncLockFreedWhenItsHolderDies", func(t *testing.T) { testSyncLockAfterCrash(t, h) })
}

func testRuns(t *testing.T, st store.Writer) {
	ctx := t.Context()
	r1 := compliance.Run{Source: "pcrs", Params: `{"policies":[1]}`}
	if err := st.BeginRun(ctx, &r1); err != nil {
		t.Fatal(err)
	}
	r2 := compliance.Run{Source: "pcrs"}
	if err := st.BeginRun(ctx, &r2); err != nil {
		t.Fatal(err)
	}
	if r1.ID == 0 || r2.ID <= r1.ID {
		t.Fatalf("run ids %d then %d; want increasing", r1.ID, r2.ID)
	}
	r1.Status, r1.Message, r1.Records, r1.Passed, r1.Failed, r1.Errors, r1.Rejects = compliance.RunFailed, "boom", 10, 6, 3, 1, 2
	r1.Policies, r1.Batches, r1.WireBytes, r1.DataBytes = 1, 3, 100, 1000
	sums := []compliance.PolicySummary{{PolicyID: 1, Title: "P1", HostsRequested: 5, HostsReturned: 4, Records: 10, Passed: 6, Failed: 3, Errors: 1, Error: "x"}}
	if err := st.FinishRun(ctx, &r1, sums); err != nil {
		t.Fatal(err)
	}
	var got []compliance.Run
	if err := st.Runs(ctx, func(r *compliance.Run) error { got = append(got, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != r1.ID || got[1].Status != compliance.RunRunning {
		t.Fatalf("runs %+v", got)
	}
	g := got[0]
	if g.Status != compliance.RunFailed || g.Message != "boom" || g.Records != 10 || g.Rejects != 2 || g.Params != `{"policies":[1]}` ||
		g.WireBytes != 100 || g.DataBytes != 1000 || g.FinishedAt.IsZero() || !g.FinishedAt.After(g.StartedAt.Add(-time.Second)) {
		t.Fatalf("finished run read back as %+v", g)
	}
	ps, err := st.RunPolicies(ctx, r1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sums, ps); diff != "" {
		t.Fatalf("run policies (-want +got):\n%s", diff)
	}
}

// testAbandonRun: an abandoned run is not resumed, and its pending batches
// are discarded.
func testAbandonRun(t *testing.T, st store.Writer) {
	ctx := t.Context()
	run := compliance.Run{Source: "pcrs"}
	begin(t, st, &run)
	if err := st.PlanRun(ctx, run.ID, &store.Plan{Batches: []store.PlannedBatch{{No: 1, PolicyID: 7, Kind: "pcrs", HostIDs: []string{"1"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, pending, err := st.UnfinishedRun(ctx); err != nil || len(pending) != 1 {
		t.Fatalf("a planned run: %d pending, %v", len(pending), err)
	}
	if err := st.AbandonRun(ctx, run.ID, "discarded (--restart)"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UnfinishedRun(ctx); err == nil {
		t.Fatal("an abandoned run is still resumable")
	}
	var got []compliance.Run
	_ = st.Runs(ctx, func(r *compliance.Run) error { got = append(got, *r); return nil })
	if len(got) != 1 || got[0].Status != "abandoned" || got[0].Message != "discarded (--restart)" || got[0].FinishedAt.IsZero() {
		t.Fatalf("abandoned run read back as %+v", got)
	}
}

// testLastSucceeded: the latest run that succeeded, whatever came after.
func testLastSucceeded(t *testing.T, st store.Writer) {
	ctx := t.Context()
	if _, err := st.LastSucceeded(ctx); err != store.ErrNotFound {
		t.Fatalf("last succeeded run of an empty database: %v, want store.ErrNotFound", err)
	}
	var ids []int64
	for _, s := range []compliance.RunStatus{compliance.RunSucceeded, compliance.RunSucceeded, compliance.RunFailed} {
		r := compliance.Run{Source: "pcrs"}
		begin(t, st, &r)
		r.Status = s
		if err := st.FinishRun(ctx, &r, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	last, err := st.LastSucceeded(ctx)
	if err != nil || last.ID != ids[1] || last.Status != compliance.RunSucceeded || last.StartedAt.After(time.Now()) {
		t.Fatalf("last succeeded %+v, %v; want run %d", last, err, ids[1])
	}
}

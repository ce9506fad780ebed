package storetest

import (
	"errors"
	"slices"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

func begin(t *testing.T, st store.Writer, r *compliance.Run) {
	t.Helper()
	if err := st.BeginRun(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func posture(id, policy, host int64, s compliance.Status) compliance.Posture {
	p := Sample(id)
	p.PolicyID, p.Host.ID, p.Status = policy, host, s
	return p
}

// testPlans: a run's plan, its resumption and what it keeps across stops.
func testPlans(t *testing.T, st store.Writer) {
	ctx := t.Context()
	if _, _, err := st.UnfinishedRun(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unfinished run in an empty store: %v", err)
	}
	run := compliance.Run{Source: "pcrs", Request: `{"source":"pcrs","evidence":true}`}
	begin(t, st, &run)
	if _, _, err := st.UnfinishedRun(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a run without a plan is resumable: %v", err)
	}
	plan := &store.Plan{
		Batches: []store.PlannedBatch{
			{No: 1, PolicyID: 7, Kind: "pcrs", HostIDs: []string{"1", "2"}, SubscriptionID: "s"},
			{No: 2, PolicyID: 7, Kind: "pcrs", HostIDs: []string{"3"}, Filtered: true},
		},
		Policies: []compliance.PolicySummary{{PolicyID: 7, Title: "P7", HostsRequested: 3, Error: "2 entries are not host ids"}},
		Problems: []string{"controls: boom"},
	}
	if err := st.PlanRun(ctx, run.ID, plan); err != nil {
		t.Fatal(err)
	}
	write(t, st, &store.Batch{RunID: run.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed)},
		Done: []store.BatchDone{{BatchNo: 1, PolicyID: 7, HostsReturned: 1, Counts: compliance.Counts{Records: 1, Passed: 1}, Rejects: 2}}})
	if err := st.FailBatch(ctx, run.ID, 2, "cut off"); err != nil {
		t.Fatal(err)
	}
	sums, err := st.RunSummaries(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := compliance.PolicySummary{PolicyID: 7, Title: "P7", HostsRequested: 3, HostsReturned: 1, Records: 1, Passed: 1,
		Rejects: 2, FailedBatches: 1, Error: "2 entries are not host ids; batch 2: cut off"}
	if len(sums) != 1 || sums[0] != want {
		t.Fatalf("summaries %+v, want %+v", sums, want)
	}
	run.Status, run.Message = compliance.RunFailed, "incomplete"
	if err := st.FinishRun(ctx, &run, sums); err != nil {
		t.Fatal(err)
	}

	prev, pending, err := st.UnfinishedRun(ctx)
	if err != nil || prev.ID != run.ID || prev.Request != run.Request || !slices.Equal(prev.Problems, plan.Problems) {
		t.Fatalf("unfinished run %+v, %v", prev, err)
	}
	if len(pending) != 1 || pending[0].No != 2 || !pending[0].Filtered || !slices.Equal(pending[0].HostIDs, []string{"3"}) {
		t.Fatalf("pending batches %+v", pending)
	}
	if err := st.ResumeRun(ctx, prev); err != nil || prev.Resumed != 1 {
		t.Fatalf("resume: %v (resumed %d)", err, prev.Resumed)
	}
	write(t, st, &store.Batch{RunID: run.ID, Postures: []compliance.Posture{posture(102, 7, 3, compliance.StatusFailed)},
		Done: []store.BatchDone{{BatchNo: 2, PolicyID: 7, HostsReturned: 1, Counts: compliance.Counts{Records: 1, Failed: 1}}}})
	sums, err = st.RunSummaries(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	// the batch error is gone once the batch is stored; the plan's error stays
	if len(sums) != 1 || sums[0].Error != "2 entries are not host ids" || sums[0].FailedBatches != 0 || sums[0].Records != 2 || sums[0].Rejects != 2 {
		t.Fatalf("summaries after the resume %+v", sums)
	}
	// all batches done, the process gone before it finished: still resumable
	prev, pending, err = st.UnfinishedRun(ctx)
	if err != nil || prev.ID != run.ID || len(pending) != 0 {
		t.Fatalf("a running run with every batch done: %+v, %d pending, %v", prev, len(pending), err)
	}
	run.Status = compliance.RunSucceeded
	if err := st.FinishRun(ctx, &run, sums); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UnfinishedRun(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a finished run is resumable: %v", err)
	}

	// a run killed before its plan is closed by the next sync
	dead := compliance.Run{Source: "pcrs"}
	begin(t, st, &dead)
	next := compliance.Run{Source: "pcrs"}
	begin(t, st, &next)
	if err := st.AbandonStopped(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	var statuses []compliance.RunStatus
	_ = st.Runs(ctx, func(r *compliance.Run) error { statuses = append(statuses, r.Status); return nil })
	if !slices.Equal(statuses, []compliance.RunStatus{compliance.RunSucceeded, "abandoned", compliance.RunRunning}) {
		t.Fatalf("run statuses %v", statuses)
	}
}

// testMembership: hosts new to or back in a policy stay to be fetched whole
// until a batch that fetched them whole is stored; stale marks and returns
// are kept as changes.
func testMembership(t *testing.T, st store.Writer) {
	ctx := t.Context()
	r1 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r1)
	added, left, _, err := st.UpdatePolicyHosts(ctx, r1.ID, 7, []int64{1, 2})
	if err != nil || !slices.Equal(added, []int64{1, 2}) || left != 0 {
		t.Fatalf("first host list: added %v, left %d, %v", added, left, err)
	}
	// the run stops before storing host 2: it is still to be fetched whole
	write(t, st, &store.Batch{RunID: r1.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed)},
		Done: []store.BatchDone{{BatchNo: 1, PolicyID: 7, Whole: []int64{1}}}})
	r2 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r2)
	added, left, _, err = st.UpdatePolicyHosts(ctx, r2.ID, 7, []int64{1, 2})
	if err != nil || !slices.Equal(added, []int64{2}) || left != 0 {
		t.Fatalf("second host list: added %v (want [2]), left %d, %v", added, left, err)
	}
	write(t, st, &store.Batch{RunID: r2.ID, Postures: []compliance.Posture{posture(102, 7, 2, compliance.StatusFailed)},
		Done: []store.BatchDone{{BatchNo: 1, PolicyID: 7, Whole: []int64{2}}}})

	// host 2 leaves: its posture goes stale
	r3 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r3)
	added, left, stale, err := st.UpdatePolicyHosts(ctx, r3.ID, 7, []int64{1})
	if err != nil || len(added) != 0 || left != 1 || stale != 1 {
		t.Fatalf("host 2 left: added %v, left %d, stale %d, %v", added, left, stale, err)
	}
	// host 2 is back, but the run that saw it stops before fetching it
	r4 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r4)
	if added, _, _, err = st.UpdatePolicyHosts(ctx, r4.ID, 7, []int64{1, 2}); err != nil || !slices.Equal(added, []int64{2}) {
		t.Fatalf("host 2 back: added %v, %v", added, err)
	}
	r5 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r5)
	if added, _, _, err = st.UpdatePolicyHosts(ctx, r5.ID, 7, []int64{1, 2}); err != nil || !slices.Equal(added, []int64{2}) {
		t.Fatalf("host 2 back, not yet fetched: added %v (want [2]), %v", added, err)
	}
	write(t, st, &store.Batch{RunID: r5.ID, Postures: []compliance.Posture{posture(102, 7, 2, compliance.StatusPassed)},
		Done: []store.BatchDone{{BatchNo: 1, PolicyID: 7, Whole: []int64{2}}}})

	kinds := map[string][]int64{}
	err = st.Changes(ctx, 0, r5.ID, func(c *compliance.Change) error {
		kinds[c.Kind] = append(kinds[c.Kind], c.RunID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kinds["stale"], []int64{r3.ID}) || !slices.Equal(kinds["revived"], []int64{r5.ID}) ||
		!slices.Equal(kinds["newly-passing"], []int64{r5.ID}) {
		t.Fatalf("changes %v", kinds)
	}
	// a diff of the run that marked it still counts the mark
	d, err := st.Diff(ctx, r2.ID, r3.ID)
	if err != nil || len(d) != 1 || d[0].Stale != 1 || d[0].Revived != 0 {
		t.Fatalf("diff of run %d: %+v, %v", r3.ID, d, err)
	}
}

// testStaleAfterAbandonedRun: postures stored by a run that never finished
// a batch are still marked stale by a later complete full run that does
// not return them.
func testStaleAfterAbandonedRun(t *testing.T, st store.Writer) {
	ctx := t.Context()
	r1 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r1)
	write(t, st, &store.Batch{RunID: r1.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed),
		posture(102, 7, 1, compliance.StatusPassed)}})
	if err := st.AbandonRun(ctx, r1.ID, "discarded"); err != nil {
		t.Fatal(err)
	}
	r2 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r2)
	write(t, st, &store.Batch{RunID: r2.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed)}})
	marked, err := st.MarkStale(ctx, r2.ID, []int64{7})
	if err != nil || marked[7].Postures != 1 {
		t.Fatalf("stale after an abandoned run: %v, %v", marked, err)
	}
}

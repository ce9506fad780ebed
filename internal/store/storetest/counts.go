package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Query runs sql on the database behind st and returns its rows, each row's
// columns as text joined by tabs.
type Query func(t *testing.T, st store.Writer, sql string) []string

// The counts as the test computes them from the postures, in SQL that both
// SQLite and PostgreSQL run.
const (
	tally = `sum(CASE WHEN stale_run IS NULL AND status = 'Passed' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NULL AND status = 'Failed' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NULL AND status = 'Error' THEN 1 ELSE 0 END),
		sum(CASE WHEN stale_run IS NULL THEN 0 ELSE 1 END)`
	wantHostCounts    = `SELECT policy_id, host_id, ` + tally + ` FROM postures GROUP BY policy_id, host_id ORDER BY 1, 2`
	wantControlCounts = `SELECT policy_id, control_id, technology_id, ` + tally + `
		FROM postures GROUP BY policy_id, control_id, technology_id ORDER BY 1, 2, 3`
	gotHostCounts = `SELECT policy_id, host_id, passed, failed, errors, stale FROM counts_host
		WHERE passed <> 0 OR failed <> 0 OR errors <> 0 OR stale <> 0 ORDER BY 1, 2`
	gotControlCounts = `SELECT policy_id, control_id, technology_id, passed, failed, errors, stale FROM counts_control
		WHERE passed <> 0 OR failed <> 0 OR errors <> 0 OR stale <> 0 ORDER BY 1, 2, 3`
)

// RunCounts checks that the counts of current postures per policy and host
// (counts_host) and per policy, control and technology (counts_control)
// equal the postures after every committed write, whatever the write did.
func RunCounts(t *testing.T, h Harness, query Query) {
	st := h.fresh(t)
	ctx := t.Context()
	check := func(step string) {
		t.Helper()
		for _, q := range [][2]string{{wantHostCounts, gotHostCounts}, {wantControlCounts, gotControlCounts}} {
			want, got := query(t, st, q[0]), query(t, st, q[1])
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("after %s, %s (-postures +counts):\n%s", step, q[1][:26], diff)
			}
		}
	}
	rec := func(id, policy, host, control, tech int64, s compliance.Status) compliance.Posture {
		p := posture(id, policy, host, s)
		p.ControlID, p.TechnologyID, p.Technology.ID = control, tech, tech
		return p
	}
	r1 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r1)
	if err := st.BeginLoad(ctx); err != nil {
		t.Fatal(err)
	}
	first := []compliance.Posture{
		rec(1, 7, 10, 100, 45, compliance.StatusPassed), rec(2, 7, 10, 101, 45, compliance.StatusFailed),
		rec(3, 7, 11, 100, 45, compliance.StatusError), rec(4, 8, 10, 100, 45, compliance.StatusPassed),
		rec(5, 8, 12, 102, 105, compliance.StatusFailed),
		rec(1, 7, 10, 100, 45, compliance.StatusFailed), // the same posture twice in one batch: the last wins
	}
	write(t, st, &store.Batch{RunID: r1.ID, Postures: first})
	check("a first load with a posture twice in its batch")
	write(t, st, &store.Batch{RunID: r1.ID, Postures: first})
	check("the batch replayed")
	if err := st.EndLoad(ctx); err != nil {
		t.Fatal(err)
	}
	check("the end of the load")

	r2 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r2)
	write(t, st, &store.Batch{RunID: r2.ID, Postures: []compliance.Posture{
		rec(2, 7, 10, 101, 45, compliance.StatusPassed),  // status change
		rec(3, 7, 12, 103, 105, compliance.StatusError),  // host, control and technology change
		rec(5, 7, 12, 102, 105, compliance.StatusFailed), // the id again, in another policy
		rec(6, 8, 13, 100, 45, compliance.StatusPassed),
	}})
	check("status, host, control, technology and policy changes")
	if _, _, _, err := st.UpdatePolicyHosts(ctx, r2.ID, 7, []int64{10, 11, 12}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := st.UpdatePolicyHosts(ctx, r2.ID, 8, []int64{10, 12, 13}); err != nil {
		t.Fatal(err)
	}
	r3 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r3)
	if _, _, _, err := st.UpdatePolicyHosts(ctx, r3.ID, 7, []int64{10, 11}); err != nil { // host 12 leaves policy 7
		t.Fatal(err)
	}
	check("a host leaving a policy")
	write(t, st, &store.Batch{RunID: r3.ID, Postures: []compliance.Posture{rec(4, 8, 10, 100, 45, compliance.StatusFailed)}})
	marked, err := st.MarkStale(ctx, r3.ID, []int64{7, 8})
	if err != nil || marked[8].Postures == 0 {
		t.Fatalf("mark stale: %v, %v", marked, err)
	}
	check("postures marked stale at the end of a full run")

	r4 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r4)
	write(t, st, &store.Batch{RunID: r4.ID, Postures: []compliance.Posture{
		rec(5, 8, 12, 102, 105, compliance.StatusPassed), // stale, back with another status
		rec(3, 7, 12, 103, 105, compliance.StatusError),  // stale, back as it was
	}})
	check("stale postures returned")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = st.Write(cancelled, &store.Batch{RunID: r4.ID, Postures: []compliance.Posture{rec(9, 7, 10, 100, 45, compliance.StatusPassed)}})
	check("a cancelled write")
	if got := query(t, st, `SELECT count(*) FROM postures WHERE stale_run IS NOT NULL`); slices.Equal(got, []string{"0"}) {
		t.Fatal("no stale posture is left: the test covers less than it says")
	}
}

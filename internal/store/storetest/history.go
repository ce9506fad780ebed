package storetest

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

func history(t *testing.T, rd store.Reader) []compliance.StatusChange {
	t.Helper()
	var out []compliance.StatusChange
	if err := rd.History(t.Context(), func(c *compliance.StatusChange) error { out = append(out, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// testHistory: one history row per status change, none for a new posture
// or a record that repeats the stored status.
func testHistory(t *testing.T, st store.Writer) {
	a, b := posture(1, 7, 10, compliance.StatusPassed), posture(2, 7, 10, compliance.StatusFailed)
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{a, b}})
	if h := history(t, st); len(h) != 0 {
		t.Fatalf("new postures made history: %+v", h)
	}
	a.Status, a.PostureModifiedDate = compliance.StatusFailed, date("2026-11-02T03:04:05Z")
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a, b}})
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a, b}}) // replayed
	write(t, st, &store.Batch{RunID: 3, Postures: []compliance.Posture{a}})    // seen again, unchanged
	a.Status, a.PostureModifiedDate = compliance.StatusError, date("2026-11-03T00:00:00Z")
	write(t, st, &store.Batch{RunID: 4, Postures: []compliance.Posture{a}})
	want := []compliance.StatusChange{
		{PostureID: 1, PolicyID: 7, HostID: 10, ControlID: a.ControlID, OldStatus: compliance.StatusPassed,
			NewStatus: compliance.StatusFailed, ChangedAt: date("2026-11-02T03:04:05Z"), RunID: 2},
		{PostureID: 1, PolicyID: 7, HostID: 10, ControlID: a.ControlID, OldStatus: compliance.StatusFailed,
			NewStatus: compliance.StatusError, ChangedAt: date("2026-11-03T00:00:00Z"), RunID: 4},
	}
	got := history(t, st)
	if len(got) != len(want) {
		t.Fatalf("history %+v, want %+v", got, want)
	}
	for i := range want {
		got[i].ID = 0 // the store numbers the rows
		if got[i] != want[i] {
			t.Fatalf("history row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// historyPostures are the postures of the kill test: n of them, in status s.
func historyPostures(n int, s compliance.Status) []compliance.Posture {
	ps := make([]compliance.Posture, n)
	for i := range ps {
		ps[i] = posture(int64(i+1), 7, int64(i/10+1), s)
		ps[i].ControlID = int64(i%10 + 1)
	}
	return ps
}

const (
	killPostures = 20000
	killBatch    = 500
)

// testHistoryAfterKill: a writer killed part-way through a run that flips
// every posture, then the run's batches replayed whole (as a resumed run
// fetches them again), leaves exactly one history row per posture.
func testHistoryAfterKill(t *testing.T, h Harness) {
	if dsn, ok := childJob("flip"); ok {
		flipChild(t, h, dsn)
		return
	}
	dsn := h.New(t)
	st, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	r1 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r1)
	write(t, st, &store.Batch{RunID: r1.ID, Postures: historyPostures(killPostures, compliance.StatusPassed)})
	r2 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r2)
	st.Close()

	c := startChild(t, "flip", dsn, runEnv+"="+strconv.FormatInt(r2.ID, 10))
	for i := range 3 { // three batches committed, then a kill during the fourth
		fmt.Fprintln(c.in, "go")
		c.expect(t, fmt.Sprint("committed ", i+1))
	}
	fmt.Fprintln(c.in, "go")
	<-time.After(5 * time.Millisecond)
	c.kill(t)

	st, err = h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	flipped := historyPostures(killPostures, compliance.StatusFailed)
	for range 2 { // the resumed run, then a replay of it
		for i := 0; i < len(flipped); i += killBatch {
			write(t, st, &store.Batch{RunID: r2.ID, Postures: flipped[i:min(i+killBatch, len(flipped))]})
		}
	}
	seen := map[int64]int{}
	for _, c := range history(t, st) {
		if c.OldStatus != compliance.StatusPassed || c.NewStatus != compliance.StatusFailed || c.RunID != r2.ID {
			t.Fatalf("history row %+v: want Passed -> Failed in run %d", c, r2.ID)
		}
		seen[c.PostureID]++
	}
	if len(seen) != killPostures {
		t.Fatalf("%d postures have history rows, want %d", len(seen), killPostures)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("posture %d has %d history rows, want 1", id, n)
		}
	}
}

// flipChild writes the flipped postures batch by batch, each when its
// parent says go, until it is killed.
func flipChild(t *testing.T, h Harness, dsn string) {
	run, _ := strconv.ParseInt(os.Getenv(runEnv), 10, 64)
	st, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	flipped := historyPostures(killPostures, compliance.StatusFailed)
	batches := []int{killBatch, killBatch, killBatch, len(flipped)} // the last one is cut off
	at := 0
	buf := make([]byte, 3)
	for i, n := range batches {
		if _, err := io.ReadFull(os.Stdin, buf); err != nil {
			t.Fatal(err)
		}
		write(t, st, &store.Batch{RunID: run, Postures: flipped[at:min(at+n, len(flipped))]})
		at += n
		say("committed %d", i+1)
	}
	waitToBeKilled(t)
}

// testBulkLoad: what is written between BeginLoad and EndLoad into an
// empty database is all there after it, and later writes upsert it.
func testBulkLoad(t *testing.T, st store.Writer) {
	ctx := t.Context()
	if err := st.BeginLoad(ctx); err != nil {
		t.Fatal(err)
	}
	ps := historyPostures(2000, compliance.StatusPassed)
	write(t, st, &store.Batch{RunID: 1, Postures: ps[:1000]})
	write(t, st, &store.Batch{RunID: 1, Postures: ps[500:]}) // overlaps: a batch fetched again
	if err := st.EndLoad(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.BeginLoad(ctx); err != nil {
		t.Fatal(err)
	}
	ps[0].Status = compliance.StatusFailed
	write(t, st, &store.Batch{RunID: 2, Postures: ps[:1]})
	if err := st.EndLoad(ctx); err != nil {
		t.Fatal(err)
	}
	got := postures(t, st)
	if len(got) != len(ps) || got[0].Status != compliance.StatusFailed {
		t.Fatalf("%d postures after the loads (want %d), the first %s", len(got), len(ps), got[0].Status)
	}
	if h := history(t, st); len(h) != 1 || h[0].PostureID != 1 {
		t.Fatalf("history after the loads: %+v", h)
	}
}

// staleRuns reads postures.stale_run through the registry.
func staleRuns(t *testing.T, rd store.Reader) map[int64]int64 {
	t.Helper()
	tab := store.TableNamed("postures")
	id, stale := columnIndex(tab, "id"), columnIndex(tab, "stale_run")
	out := map[int64]int64{}
	err := rd.Rows(t.Context(), tab, func(row []any) error {
		if row[stale] != nil {
			out[row[id].(int64)] = row[stale].(int64)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func columnIndex(t *store.Table, name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	panic("no column " + name)
}

// testMarkStale: a complete full run marks stale what it did not return,
// only in the policies it names, and counts the hosts that it left
// without a current posture; a posture returned again is current.
func testMarkStale(t *testing.T, st store.Writer) {
	ctx := t.Context()
	r1 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r1)
	write(t, st, &store.Batch{RunID: r1.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed),
		posture(102, 7, 2, compliance.StatusFailed), posture(103, 7, 1, compliance.StatusError), posture(201, 8, 1, compliance.StatusPassed)}})
	r2 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r2)
	write(t, st, &store.Batch{RunID: r2.ID, Postures: []compliance.Posture{posture(101, 7, 1, compliance.StatusPassed)}})
	marked, err := st.MarkStale(ctx, r2.ID, []int64{7})
	// host 2 is left without a posture of policy 7, host 1 keeps 101
	if err != nil || len(marked) != 1 || marked[7] != (store.Stale{Postures: 2, Hosts: 1}) {
		t.Fatalf("marked %v, %v; want two postures and one host of policy 7", marked, err)
	}
	if s := staleRuns(t, st); len(s) != 2 || s[102] != r2.ID || s[103] != r2.ID {
		t.Fatalf("stale postures %v, want 102 and 103 marked by run %d", s, r2.ID)
	}
	r3 := compliance.Run{Source: "pcrs"}
	begin(t, st, &r3)
	write(t, st, &store.Batch{RunID: r3.ID, Postures: []compliance.Posture{posture(102, 7, 2, compliance.StatusFailed),
		posture(103, 7, 1, compliance.StatusError)}})
	if s := staleRuns(t, st); len(s) != 0 {
		t.Fatalf("a posture returned again is still stale: %v", s)
	}
	if h := history(t, st); len(h) != 0 {
		t.Fatalf("stale marks made status history: %+v", h)
	}
}

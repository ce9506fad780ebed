package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// RunReader checks every read: the registry's tables row by row, the typed
// iterators in their documented order, a reader opened read-only, and reads
// while a sync writes.
func RunReader(t *testing.T, h Harness) {
	t.Run("EveryTableRowByRow", func(t *testing.T) { testRows(t, h) })
	t.Run("IteratorOrder", func(t *testing.T) { testIteratorOrder(t, h.fresh(t)) })
	t.Run("ReadWhileASyncWrites", func(t *testing.T) { testReadWhileWriting(t, h) })
}

// populate writes a little of everything.
func populate(t *testing.T, st store.Writer) {
	ctx := t.Context()
	r := compliance.Run{Source: "pcrs", Request: `{"source":"pcrs"}`}
	begin(t, st, &r)
	if err := st.UpsertPolicies(ctx, r.ID, []compliance.Policy{{ID: 42, Title: "CIS", Status: "active"}, {ID: 7, Title: "STIG"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertControls(ctx, r.ID, []compliance.Control{sampleControl(2641), sampleControl(7)}); err != nil {
		t.Fatal(err)
	}
	d := &compliance.PolicyDetail{PolicyID: 42, Title: "CIS", Exported: date("2026-11-01T00:00:00Z"),
		Technologies: []compliance.Technology{{ID: 105, Name: "Oracle 19c"}},
		Sections: []compliance.Section{{Number: 1, Heading: "Audit", Controls: []compliance.PolicyControl{{ControlID: 2641,
			Technologies: []compliance.ControlTechnology{{TechnologyID: 105, Evaluate: "DB"}}}}}}}
	if err := st.UpsertPolicyDetail(ctx, r.ID, d); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := st.UpdatePolicyHosts(ctx, r.ID, 42, []int64{12345678, 5}); err != nil {
		t.Fatal(err)
	}
	if err := st.PlanRun(ctx, r.ID, &store.Plan{Batches: []store.PlannedBatch{{No: 1, PolicyID: 42, Kind: "pcrs", HostIDs: []string{"12345678", "5"}}},
		Policies: []compliance.PolicySummary{{PolicyID: 42, Title: "CIS", HostsRequested: 2}}}); err != nil {
		t.Fatal(err)
	}
	a, b := Sample(3), Sample(1)
	b.Host.ID, b.Exception = 5, &compliance.Exception{Status: "Approved", EndDate: date("2027-01-01T00:00:00Z")}
	write(t, st, &store.Batch{RunID: r.ID, Postures: []compliance.Posture{a, b}, Exceptions: true,
		Done: []store.BatchDone{{BatchNo: 1, PolicyID: 42, HostsReturned: 2, Counts: compliance.Counts{Records: 2, Failed: 2}}}})
	b.Status = compliance.StatusPassed
	write(t, st, &store.Batch{RunID: r.ID, Postures: []compliance.Posture{b}})
	if _, err := st.MarkStale(ctx, r.ID, []int64{42}); err != nil {
		t.Fatal(err)
	}
	sums, err := st.RunSummaries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	r.Status = compliance.RunSucceeded
	if err := st.FinishRun(ctx, &r, sums); err != nil {
		t.Fatal(err)
	}
}

// testRows: every table of the registry streams through Reader.Rows, in
// key order, each value of its column's type; the same through a reader
// opened read-only.
func testRows(t *testing.T, h Harness) {
	dsn := h.New(t)
	st, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	populate(t, st)
	st.Close()
	rd, err := h.OpenReader(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for i := range store.Tables {
		tab := &store.Tables[i]
		var prev []any
		n := 0
		err := rd.Rows(t.Context(), tab, func(row []any) error {
			n++
			if len(row) != len(tab.Columns) {
				return fmt.Errorf("%d values, want %d", len(row), len(tab.Columns))
			}
			for j, c := range tab.Columns {
				if err := checkType(row[j], c.Type); err != nil {
					return fmt.Errorf("column %s: %w", c.Name, err)
				}
			}
			key := keyOf(tab, row)
			if prev != nil && compareKeys(prev, key) >= 0 {
				return fmt.Errorf("row key %v after %v: not in key order", key, prev)
			}
			prev = key
			return nil
		})
		if err != nil {
			t.Fatalf("table %s: %v", tab.Name, err)
		}
		if n == 0 && tab.Name != "stale_history" && tab.Name != "history" && tab.Name != "frameworks" &&
			tab.Name != "control_frameworks" && tab.Name != "policy_technologies" && tab.Name != "policy_control_technologies" {
			// every other table has rows after populate
			t.Errorf("table %s has no rows", tab.Name)
		}
	}
}

func checkType(v any, typ store.Type) error {
	var ok bool
	switch v.(type) {
	case nil:
		return nil
	case int64:
		ok = typ == store.Int
	case string:
		ok = typ == store.Text
	case time.Time:
		ok = typ == store.Time
	case bool:
		ok = typ == store.Bool
	case []byte:
		ok = typ == store.JSON
	}
	if !ok {
		return fmt.Errorf("value %v (%T) for a %s column", v, v, typ)
	}
	return nil
}

func keyOf(tab *store.Table, row []any) []any {
	var key []any
	for _, k := range tab.Key {
		key = append(key, row[columnIndex(tab, k)])
	}
	return key
}

func compareKeys(a, b []any) int {
	for i := range a {
		var c int
		switch x := a[i].(type) {
		case int64:
			c = cmp.Compare(x, b[i].(int64))
		case string:
			c = cmp.Compare(x, b[i].(string))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// testIteratorOrder: the typed iterators stream in the order they promise.
func testIteratorOrder(t *testing.T, st store.Writer) {
	ctx := t.Context()
	ids := []int64{30, 10, 20}
	var ps []compliance.Posture
	for _, id := range ids {
		p := posture(id, id, id, compliance.StatusPassed)
		p.ControlID, p.TechnologyID, p.Technology = id, id, compliance.Technology{ID: id, Name: fmt.Sprint("t", id)}
		ps = append(ps, p)
	}
	write(t, st, &store.Batch{RunID: 1, Postures: ps})
	if err := st.UpsertPolicies(ctx, 1, []compliance.Policy{{ID: 30}, {ID: 10}, {ID: 20}}); err != nil {
		t.Fatal(err)
	}
	sorted := []int64{10, 20, 30}
	var got []int64
	check := func(what string) {
		t.Helper()
		if !slices.Equal(got, sorted) {
			t.Fatalf("%s in order %v, want %v", what, got, sorted)
		}
		got = got[:0]
	}
	_ = st.Postures(ctx, func(p *compliance.Posture) error { got = append(got, p.ID); return nil })
	check("postures")
	_ = st.Policies(ctx, func(p *compliance.Policy) error { got = append(got, p.ID); return nil })
	check("policies")
	_ = st.Hosts(ctx, func(h *compliance.Host) error { got = append(got, h.ID); return nil })
	check("hosts")
	_ = st.Technologies(ctx, func(x *compliance.Technology) error { got = append(got, x.ID); return nil })
	check("technologies")
	_ = st.Controls(ctx, func(x *compliance.Control) error { got = append(got, x.ID); return nil })
	check("controls")
}

// testReadWhileWriting: a reader opened read-only reads while a sync
// writes, sees only whole batches, and never fails for the writer.
func testReadWhileWriting(t *testing.T, h Harness) {
	dsn := h.New(t)
	st, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	write(t, st, &store.Batch{RunID: 1, Postures: historyPostures(100, compliance.StatusPassed)})
	rd, err := h.OpenReader(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	const batches, size = 40, 250
	all := historyPostures(batches*size, compliance.StatusPassed)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < len(all); i += size {
			if err := st.Write(t.Context(), &store.Batch{RunID: 2, Postures: all[i : i+size]}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	last := 0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		n := 0
		if err := rd.Postures(t.Context(), func(*compliance.Posture) error { n++; return nil }); err != nil {
			t.Fatalf("a read while a sync writes: %v", err)
		}
		if n < last || n > 100 && n%size != 0 {
			t.Fatalf("a reader saw %d postures after %d: not whole batches", n, last)
		}
		last = n
	}
	n := 0
	_ = rd.Postures(t.Context(), func(*compliance.Posture) error { n++; return nil })
	if n != len(all) {
		t.Fatalf("the reader sees %d postures at the end, want %d", n, len(all))
	}
}

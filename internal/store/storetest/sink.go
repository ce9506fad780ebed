package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// RunSink checks what a sync writes: every method of store.Sink.
func RunSink(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		test func(*testing.T, store.Writer)
	}{
		{"Policies", testPolicies},
		{"PosturesRoundTrip", testPosturesRoundTrip},
		{"RowsAlternateAcrossBatches", testRowsAlternate},
		{"UpsertKeepsOneRow", testUpsert},
		{"RelatedTables", testRelated},
		{"HostIsItsNewestScan", testHostNewestScan},
		{"CancelledWriteStoresNothing", testCancelled},
		{"Catalog", testCatalog},
		{"PolicyDetail", testPolicyDetail},
		{"ClassicExtras", testClassicExtras},
		{"BulkLoad", testBulkLoad},
		{"History", testHistory},
		{"Membership", testMembership},
		{"StaleAfterAbandonedRun", testStaleAfterAbandonedRun},
		{"MarkStale", testMarkStale},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h.fresh(t)) })
	}
	t.Run("HistoryAfterKill", func(t *testing.T) { testHistoryAfterKill(t, h) })
}

func testPolicies(t *testing.T, st store.Writer) {
	p := compliance.Policy{ID: 7, Title: "Old", CreatedBy: "a", CreatedDate: date("2020-01-01T00:00:00Z"), Status: "active", Locked: true}
	if err := st.UpsertPolicies(t.Context(), 1, []compliance.Policy{p}); err != nil {
		t.Fatal(err)
	}
	p.Title, p.Locked, p.LastEvaluatedDate = "New", false, date("2021-01-01T00:00:00Z")
	if err := st.UpsertPolicies(t.Context(), 2, []compliance.Policy{p, {ID: 3, Title: "Three", Status: "inactive"}}); err != nil {
		t.Fatal(err)
	}
	var got []compliance.Policy
	_ = st.Policies(t.Context(), func(x *compliance.Policy) error { got = append(got, *x); return nil })
	want := []compliance.Policy{{ID: 3, Title: "Three", Status: "inactive"}, p}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("policies (-want +got):\n%s", diff)
	}
}

func testPosturesRoundTrip(t *testing.T, st store.Writer) {
	full := Sample(1)
	bare := compliance.Posture{ID: 2, PolicyID: 42, ControlID: 9, TechnologyID: 45, Instance: "os", Status: compliance.StatusPassed,
		Host: compliance.Host{ID: 5}, Technology: compliance.Technology{ID: 45}}
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{full, bare}})
	got := postures(t, st)
	if diff := cmp.Diff([]compliance.Posture{full, bare}, got); diff != "" {
		t.Fatalf("postures read back (-want +got):\n%s", diff)
	}
}

// testRowsAlternate writes batches of more records than one statement of
// a store may carry, each record in the place of one from the batch before
// that had other values: all of them, none (NULLs and empty documents), or
// the same. A store that binds only what changed from one statement to the
// next (the SQLite store) must still store every value of every record.
func testRowsAlternate(t *testing.T, st store.Writer) {
	const perBatch = 70
	var want []compliance.Posture
	for b := range 4 {
		var batch []compliance.Posture
		for r := range perBatch {
			id := int64(b*100 + r + 1)
			p := Sample(id)
			p.Host.ID = id
			switch (b + r) % 3 {
			case 0: // all values, other than the sample's
				shift := time.Duration(b+1) * time.Hour
				p.Status, p.PreviousStatus = compliance.StatusPassed, compliance.StatusError
				for _, d := range []*time.Time{&p.FirstFailDate, &p.LastFailDate, &p.FirstPassDate, &p.LastPassDate,
					&p.PostureModifiedDate, &p.LastEvaluatedDate, &p.Created, &p.Host.ComplianceLastScanDate} {
					*d = d.Add(shift)
				}
				p.Instance = fmt.Sprintf("os-%d", b)
				p.Criticality = compliance.Criticality{Label: "URGENT", Value: 5}
				p.Evidence, p.CauseOfFailure = []byte(`{"currentValues":["b`+fmt.Sprint(b)+`"]}`), []byte(`{"missing":[]}`)
				p.Extra = []byte(`{}`)
				p.Host.IP, p.Host.DNS, p.Host.NetworkID = fmt.Sprintf("10.1.0.%d", b), "", int64(b)
			case 1: // none
				p = compliance.Posture{ID: id, PolicyID: 42, ControlID: 9, TechnologyID: 45, Instance: "os",
					Status: compliance.StatusPassed, Host: compliance.Host{ID: id}, Technology: compliance.Technology{ID: 45}}
			}
			batch = append(batch, p)
		}
		write(t, st, &store.Batch{RunID: int64(b + 1), Postures: batch})
		want = append(want, batch...)
	}
	got := postures(t, st)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("postures read back (-want +got):\n%s", diff)
	}
}

func testUpsert(t *testing.T, st store.Writer) {
	a := Sample(1)
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{a, Sample(2)}})
	a.Status, a.PreviousStatus, a.Evidence = compliance.StatusPassed, compliance.StatusFailed, nil
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a}})
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a}}) // replayed batch
	got := postures(t, st)
	if len(got) != 2 {
		t.Fatalf("%d rows after upserts, want 2", len(got))
	}
	if diff := cmp.Diff(a, got[0]); diff != "" {
		t.Fatalf("upserted posture (-want +got):\n%s", diff)
	}
}

func testRelated(t *testing.T, st store.Writer) {
	a, b := Sample(1), Sample(2)
	b.Host.IP, b.Host.ID = "10.9.9.9", 77
	b.Technology, b.TechnologyID = compliance.Technology{ID: 45, Name: "RHEL 8"}, 45
	b.ControlID, b.Criticality = 99, compliance.Criticality{Label: "URGENT", Value: 5}
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{a, b}})
	a.Host.IP = "10.0.0.6" // the host's address changed
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a}})
	var hosts []compliance.Host
	_ = st.Hosts(t.Context(), func(h *compliance.Host) error { hosts = append(hosts, *h); return nil })
	if diff := cmp.Diff([]compliance.Host{b.Host, a.Host}, hosts); diff != "" {
		t.Fatalf("hosts (-want +got):\n%s", diff)
	}
	var techs []compliance.Technology
	_ = st.Technologies(t.Context(), func(x *compliance.Technology) error { techs = append(techs, *x); return nil })
	if diff := cmp.Diff([]compliance.Technology{b.Technology, a.Technology}, techs); diff != "" {
		t.Fatalf("technologies (-want +got):\n%s", diff)
	}
	var ctrls []compliance.Control
	_ = st.Controls(t.Context(), func(x *compliance.Control) error { ctrls = append(ctrls, *x); return nil })
	// a control known only from posture records counts as active
	want := []compliance.Control{{ID: 99, Criticality: b.Criticality, Active: true}, {ID: 2641, Criticality: a.Criticality, Active: true}}
	if diff := cmp.Diff(want, ctrls); diff != "" {
		t.Fatalf("controls (-want +got):\n%s", diff)
	}
}

// A host row is what its newest scan says: a record that carries an older
// scan of the host (a posture evaluated before the host was rescanned,
// later in the stream or in a later batch) does not overwrite it.
func testHostNewestScan(t *testing.T, st store.Writer) {
	scan := func(p compliance.Posture, ip, when string) compliance.Posture {
		p.Host.IP, p.Host.ComplianceLastScanDate = ip, date(when)
		return p
	}
	newest := scan(Sample(1), "10.0.0.7", "2021-11-02T00:00:00Z")
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{
		scan(Sample(2), "10.0.0.6", "2021-11-01T00:00:00Z"), newest, scan(Sample(3), "10.0.0.5", "2021-10-31T00:00:00Z")}})
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{scan(Sample(4), "10.0.0.4", "2021-10-30T00:00:00Z")}})
	var hosts []compliance.Host
	_ = st.Hosts(t.Context(), func(h *compliance.Host) error { hosts = append(hosts, *h); return nil })
	if diff := cmp.Diff([]compliance.Host{newest.Host}, hosts); diff != "" {
		t.Fatalf("hosts after older scans came later (-want +got):\n%s", diff)
	}
	newer := scan(Sample(5), "10.0.0.8", "2021-11-03T00:00:00Z")
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{newer}})
	hosts = nil
	_ = st.Hosts(t.Context(), func(h *compliance.Host) error { hosts = append(hosts, *h); return nil })
	if diff := cmp.Diff([]compliance.Host{newer.Host}, hosts); diff != "" {
		t.Fatalf("hosts after a newer scan (-want +got):\n%s", diff)
	}
}

func testCancelled(t *testing.T, st store.Writer) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := st.Write(ctx, &store.Batch{RunID: 1, Postures: []compliance.Posture{Sample(1)}}); err == nil {
		t.Fatal("a write with a cancelled context succeeded")
	}
	if got := postures(t, st); len(got) != 0 {
		t.Fatalf("%d rows stored by a cancelled write", len(got))
	}
}

func sampleControl(id int64) compliance.Control {
	return compliance.Control{
		ID: id, Criticality: compliance.Criticality{Label: "CRITICAL", Value: 4}, Category: "File Security",
		SubCategory: "Permissions", Statement: "Status of the permissions set on '/etc/shadow'", CheckType: "File Permission",
		Comment: "<reviewed> & approved", Active: true, Created: date("2020-01-01T00:00:00Z"), Updated: date("2021-06-01T12:00:00Z"),
		Technologies: []compliance.ControlTechnology{{TechnologyID: 45, Name: "RHEL 8", Rationale: "why on 45"},
			{TechnologyID: 88, Name: "Windows 2019", Rationale: "why on 88"}},
		Frameworks: []compliance.FrameworkReference{{FrameworkID: 1, FrameworkName: "CIS Controls v8", Reference: "4.1"},
			{FrameworkID: 2, FrameworkName: "NIST SP 800-53", Reference: "CM-6", Comments: "partly"}},
	}
}

func controls(t *testing.T, st store.Writer) []compliance.Control {
	t.Helper()
	var out []compliance.Control
	if err := st.Controls(t.Context(), func(c *compliance.Control) error { out = append(out, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func testCatalog(t *testing.T, st store.Writer) {
	c := sampleControl(7)
	if err := st.UpsertControls(t.Context(), 1, []compliance.Control{c}); err != nil {
		t.Fatal(err)
	}
	// a posture record for the same control must not erase the catalogue
	p := Sample(1)
	p.ControlID, p.Criticality = 7, c.Criticality
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{p}})
	if diff := cmp.Diff([]compliance.Control{c}, controls(t, st)); diff != "" {
		t.Fatalf("controls (-want +got):\n%s", diff)
	}
	c.Technologies, c.Statement, c.Active = c.Technologies[:1], "changed", false
	if err := st.UpsertControls(t.Context(), 3, []compliance.Control{c}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]compliance.Control{c}, controls(t, st)); diff != "" {
		t.Fatalf("controls after an update (-want +got):\n%s", diff)
	}
	var fws []compliance.Framework
	_ = st.Frameworks(t.Context(), func(f *compliance.Framework) error { fws = append(fws, *f); return nil })
	if diff := cmp.Diff([]compliance.Framework{{ID: 1, Name: "CIS Controls v8"}, {ID: 2, Name: "NIST SP 800-53"}}, fws); diff != "" {
		t.Fatalf("frameworks (-want +got):\n%s", diff)
	}
}

func testPolicyDetail(t *testing.T, st store.Writer) {
	d := &compliance.PolicyDetail{PolicyID: 42, Title: "CIS RHEL", Status: "active", CoverPage: "cover",
		Exported: date("2026-11-01T00:00:00Z"), Technologies: []compliance.Technology{{ID: 45, Name: "RHEL 8"}},
		Sections: []compliance.Section{
			{Number: 1, Heading: "Access", Controls: []compliance.PolicyControl{{ControlID: 7, Criticality: compliance.Criticality{Label: "SERIOUS", Value: 3},
				ReferenceText: "1.1", Technologies: []compliance.ControlTechnology{{TechnologyID: 45, Name: "RHEL 8", Rationale: "r",
					Remediation: "fix", Description: "d", Evaluate: "value in ('no')"}}}}},
			{Number: 2, Heading: "User Defined Controls", Controls: []compliance.PolicyControl{{ControlID: 2000001, UserDefined: true,
				Statement: "banner present", Criticality: compliance.Criticality{Label: "MEDIUM", Value: 2}, Disabled: true}}},
		},
		Frameworks: []compliance.FrameworkControls{{Framework: compliance.Framework{ID: 3, Name: "PCI DSS v4.0"},
			Controls: []compliance.FrameworkControl{{ControlID: 7, Reference: "2.2.1"}}}},
	}
	removed := *d // an earlier export had one more control, since removed from the policy
	removed.Sections = []compliance.Section{d.Sections[0], d.Sections[1]}
	removed.Sections[0].Controls = append([]compliance.PolicyControl{{ControlID: 6, Criticality: compliance.Criticality{Label: "URGENT", Value: 5}}},
		d.Sections[0].Controls...)
	for _, x := range []*compliance.PolicyDetail{&removed, d, d} { // a later export replaces an earlier one
		if err := st.UpsertPolicyDetail(t.Context(), 1, x); err != nil {
			t.Fatal(err)
		}
	}
	type got struct {
		Policy  int64
		Section compliance.Section
	}
	var secs []got
	if err := st.Sections(t.Context(), func(id int64, s *compliance.Section) error { secs = append(secs, got{id, *s}); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []got{{42, d.Sections[0]}, {42, d.Sections[1]}}
	if diff := cmp.Diff(want, secs); diff != "" {
		t.Fatalf("sections (-want +got):\n%s", diff)
	}
	var pols []compliance.Policy
	_ = st.Policies(t.Context(), func(p *compliance.Policy) error { pols = append(pols, *p); return nil })
	if len(pols) != 1 || pols[0].Title != "CIS RHEL" {
		t.Fatalf("policies %+v", pols)
	}
	cs := controls(t, st)
	if len(cs) != 1 || cs[0].ID != 2000001 || !cs[0].UserDefined || cs[0].Statement != "banner present" {
		t.Fatalf("the user-defined control is not in the catalogue: %+v", cs)
	}
}

func testClassicExtras(t *testing.T, st store.Writer) {
	a, b := Sample(1), Sample(2)
	a.Exception = &compliance.Exception{Assignee: "jdoe", Status: "Approved", Comments: "risk <accepted>", CreatedBy: "admin",
		CreatedDate: date("2026-01-01T00:00:00Z"), ModifiedBy: "admin", ModifiedDate: date("2026-01-02T00:00:00Z"), EndDate: date("2026-06-01T00:00:00Z")}
	a.Remediation = "Set audit_trail to DB"
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{a, b}, Exceptions: true})
	var ex []int64
	_ = st.Exceptions(t.Context(), func(id int64, e *compliance.Exception) error {
		if diff := cmp.Diff(*a.Exception, *e); diff != "" {
			t.Fatalf("exception (-want +got):\n%s", diff)
		}
		ex = append(ex, id)
		return nil
	})
	if len(ex) != 1 || ex[0] != 1 {
		t.Fatalf("exceptions on %v, want on posture 1", ex)
	}
	if cs := controls(t, st); len(cs) != 1 || cs[0].Remediation != a.Remediation {
		t.Fatalf("remediation not stored with the control: %+v", cs)
	}
	a.Exception = nil
	write(t, st, &store.Batch{RunID: 2, Postures: []compliance.Posture{a}}) // PCRS: says nothing of exceptions
	n := 0
	_ = st.Exceptions(t.Context(), func(int64, *compliance.Exception) error { n++; return nil })
	if n != 1 {
		t.Fatal("a PCRS record removed a classic exception")
	}
	write(t, st, &store.Batch{RunID: 3, Postures: []compliance.Posture{a}, Exceptions: true}) // classic: now none
	n = 0
	_ = st.Exceptions(t.Context(), func(int64, *compliance.Exception) error { n++; return nil })
	if n != 0 {
		t.Fatal("a lifted exception was kept")
	}
}

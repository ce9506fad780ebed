// Package storetest is the conformance suite every store.Store
// implementation passes: the behaviour the engine and the exporters rely on,
// written once.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Run runs the suite; newStore returns an empty store, closed by the test.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("Runs", func(t *testing.T) { testRuns(t, newStore(t)) })
	t.Run("Policies", func(t *testing.T) { testPolicies(t, newStore(t)) })
	t.Run("PosturesRoundTrip", func(t *testing.T) { testPosturesRoundTrip(t, newStore(t)) })
	t.Run("UpsertKeepsOneRow", func(t *testing.T) { testUpsert(t, newStore(t)) })
	t.Run("RelatedTables", func(t *testing.T) { testRelated(t, newStore(t)) })
	t.Run("CancelledWriteStoresNothing", func(t *testing.T) { testCancelled(t, newStore(t)) })
	t.Run("Catalog", func(t *testing.T) { testCatalog(t, newStore(t)) })
	t.Run("PolicyDetail", func(t *testing.T) { testPolicyDetail(t, newStore(t)) })
	t.Run("ClassicExtras", func(t *testing.T) { testClassicExtras(t, newStore(t)) })
	t.Run("Plans", func(t *testing.T) { testPlans(t, newStore(t)) })
	t.Run("Membership", func(t *testing.T) { testMembership(t, newStore(t)) })
	t.Run("StaleAfterAbandonedRun", func(t *testing.T) { testStaleAfterAbandonedRun(t, newStore(t)) })
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Sample returns a fully populated posture record with the given id.
func Sample(id int64) compliance.Posture {
	return compliance.Posture{
		ID: id, Instance: "oracle19:1:1521:ORCL", PolicyID: 42, ControlID: 2641, TechnologyID: 105,
		Status: compliance.StatusFailed, PreviousStatus: compliance.StatusPassed,
		FirstFailDate: date("2021-10-28T10:15:30Z"), LastFailDate: date("2021-10-30T09:22:15Z"),
		FirstPassDate: date("2021-10-20T08:00:00Z"), LastPassDate: date("2021-10-27T12:30:00Z"),
		PostureModifiedDate: date("2021-10-30T09:22:15Z"), LastEvaluatedDate: date("2021-10-30T09:22:15Z"),
		Created: date("2021-10-20T08:00:00Z"),
		Host: compliance.Host{ID: 12345678, IP: "10.0.0.5", TrackingMethod: "AGENT", OS: "Red Hat Enterprise Linux 8.6",
			OSCPE: "cpe:/o:redhat:enterprise_linux:8.6:::", DNS: "web01.example.com", QGHostID: "3f1c0e4e-1111-4222-a333-444455556666",
			NetworkID: 1001, NetworkName: "DMZ", ComplianceLastScanDate: date("2021-10-30T09:20:00Z"),
			CustomerUUID: "9b0e2a1c-aaaa-4bbb-accc-ddddeeeeffff", CustomerID: 123456, AssetID: 98765432},
		Technology:     compliance.Technology{ID: 105, Name: "Oracle 19c"},
		Criticality:    compliance.Criticality{Label: "SERIOUS", Value: 3},
		Evidence:       []byte(`{"expectedValues":["DB"],"currentValues":["audit_trail=NONE \"quoted\" \u00e9"]}`),
		CauseOfFailure: []byte(`{"missing":["DB"],"unexpected":["NONE"]}`),
		Extra:          []byte(`{"policyTitle":"CIS","netBios":null}`),
	}
}

func postures(t *testing.T, st store.Store) []compliance.Posture {
	t.Helper()
	var out []compliance.Posture
	err := st.Postures(t.Context(), func(p *compliance.Posture) error {
		c := *p
		c.Evidence = append([]byte(nil), p.Evidence...)
		c.CauseOfFailure = append([]byte(nil), p.CauseOfFailure...)
		c.Extra = append([]byte(nil), p.Extra...)
		if p.Evidence == nil {
			c.Evidence = nil
		}
		if p.CauseOfFailure == nil {
			c.CauseOfFailure = nil
		}
		if p.Extra == nil {
			c.Extra = nil
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, st store.Store, b *store.Batch) {
	t.Helper()
	if err := st.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

func testRuns(t *testing.T, st store.Store) {
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

func testPolicies(t *testing.T, st store.Store) {
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

func testPosturesRoundTrip(t *testing.T, st store.Store) {
	full := Sample(1)
	bare := compliance.Posture{ID: 2, PolicyID: 42, ControlID: 9, TechnologyID: 45, Instance: "os", Status: compliance.StatusPassed,
		Host: compliance.Host{ID: 5}, Technology: compliance.Technology{ID: 45}}
	write(t, st, &store.Batch{RunID: 1, Postures: []compliance.Posture{full, bare}})
	got := postures(t, st)
	if diff := cmp.Diff([]compliance.Posture{full, bare}, got); diff != "" {
		t.Fatalf("postures read back (-want +got):\n%s", diff)
	}
}

func testUpsert(t *testing.T, st store.Store) {
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

func testRelated(t *testing.T, st store.Store) {
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

func testCancelled(t *testing.T, st store.Store) {
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

func controls(t *testing.T, st store.Store) []compliance.Control {
	t.Helper()
	var out []compliance.Control
	if err := st.Controls(t.Context(), func(c *compliance.Control) error { out = append(out, *c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func testCatalog(t *testing.T, st store.Store) {
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

func testPolicyDetail(t *testing.T, st store.Store) {
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

func testClassicExtras(t *testing.T, st store.Store) {
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

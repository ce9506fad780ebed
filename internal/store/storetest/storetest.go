// Package storetest is the conformance suite every store implementation
// passes unchanged, role by role (RunSink, RunLedger, RunReader): the
// behaviour the engine, the exporters and the server rely on, written once.
// An implementation's test calls Run with a Harness that opens its
// databases.
package storetest

import (
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Harness opens databases of one implementation for the suite.
type Harness struct {
	// New returns the DSN of a new, empty database.
	New func(t *testing.T) string
	// Open opens dsn for a sync; the suite closes what it opens.
	Open func(t *testing.T, dsn string) (store.Writer, error)
	// OpenReader opens dsn read-only.
	OpenReader func(t *testing.T, dsn string) (store.ReadCloser, error)
}

// Run runs the suite, role by role. The implementation's test that calls
// it must be runnable on its own by name (the suite starts that test again
// in a child process to kill it mid-write).
func Run(t *testing.T, h Harness) {
	t.Run("Sink", func(t *testing.T) { RunSink(t, h) })
	t.Run("Ledger", func(t *testing.T) { RunLedger(t, h) })
	t.Run("Reader", func(t *testing.T) { RunReader(t, h) })
}

// fresh opens a new, empty database for writing, closed by the test.
func (h Harness) fresh(t *testing.T) store.Writer {
	t.Helper()
	st, err := h.Open(t, h.New(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
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

func postures(t *testing.T, st store.Writer) []compliance.Posture {
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

func write(t *testing.T, st store.Writer, b *store.Batch) {
	t.Helper()
	if err := st.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

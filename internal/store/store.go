// Package store defines where a sync lands: the Store interface, written in
// domain types, that the engine writes through and the exporters read from.
//
// Implementations live in subpackages (store/sqlite; PostgreSQL follows) and
// all pass the conformance suite in store/storetest. Every write is an upsert
// keyed by Qualys ids, so a batch written twice leaves the same rows as a
// batch written once.
package store

import (
	"context"
	"errors"

	"pcsync/internal/compliance"
)

// ErrNotFound is returned by lookups of rows that do not exist.
var ErrNotFound = errors.New("not found")

// Batch is one unit of writing: posture records and the plan batches whose
// last records they are. A Store applies a Batch in one transaction, so a
// plan batch is marked done if and only if all its records are stored.
type Batch struct {
	RunID    int64
	Postures []compliance.Posture
	Done     []BatchDone
	// Exceptions says the records carry exception information (classic
	// posture): a record without one has none, and a stored one is removed.
	Exceptions bool
}

// BatchDone marks one plan batch (one postureInfo request) complete, with
// what it returned.
type BatchDone struct {
	BatchNo       int64
	PolicyID      int64
	HostsReturned int64
	Counts        compliance.Counts
}

// Store is a pcsync database. Methods are safe for use by one writer
// goroutine and any number of readers; implementations serialize writes.
type Store interface {
	// BeginRun records a new run in state running and sets r.ID.
	BeginRun(ctx context.Context, r *compliance.Run) error
	// FinishRun records how run r ended: status, message, counts and the
	// summary of each policy.
	FinishRun(ctx context.Context, r *compliance.Run, policies []compliance.PolicySummary) error
	// UpsertPolicies stores policies as the policy list gave them.
	UpsertPolicies(ctx context.Context, runID int64, policies []compliance.Policy) error
	// UpsertControls stores controls of the control library with their
	// technologies (rationale) and framework references, replacing what was
	// stored for those controls.
	UpsertControls(ctx context.Context, runID int64, controls []compliance.Control) error
	// UpsertPolicyDetail stores a policy export: the policy's technologies,
	// sections, controls per section with per-technology expectations, its
	// user-defined controls and the frameworks of its appendix, replacing
	// what an earlier export stored for the policy.
	UpsertPolicyDetail(ctx context.Context, runID int64, d *compliance.PolicyDetail) error

	// BeginLoad is called before a run's first Write. An implementation may
	// switch to a bulk-load mode here (SQLite drops the secondary posture
	// indexes of an empty table, to rebuild them once at EndLoad).
	BeginLoad(ctx context.Context) error
	// EndLoad is called after a run's last Write, even a failed run's; with
	// ctx cancelled it may leave work (index builds) to the next run, which
	// must then finish it. Data written before is intact either way.
	EndLoad(ctx context.Context) error
	// Write applies b atomically: posture records are upserted by posture id,
	// the hosts, technologies and controls they mention are upserted too,
	// and b.Done is recorded in the same transaction.
	Write(ctx context.Context, b *Batch) error

	// Postures calls fn for every stored posture record, in posture id order.
	// The record passed to fn is reused between calls.
	Postures(ctx context.Context, fn func(*compliance.Posture) error) error
	// Policies calls fn for every stored policy, in id order.
	Policies(ctx context.Context, fn func(*compliance.Policy) error) error
	// Hosts calls fn for every stored host, in id order.
	Hosts(ctx context.Context, fn func(*compliance.Host) error) error
	// Technologies calls fn for every stored technology, in id order.
	Technologies(ctx context.Context, fn func(*compliance.Technology) error) error
	// Controls calls fn for every stored control, in id order, with its
	// technologies and framework references.
	Controls(ctx context.Context, fn func(*compliance.Control) error) error
	// Sections calls fn for every policy section, by policy and number, with
	// its controls (the per-technology expectations included).
	Sections(ctx context.Context, fn func(policyID int64, s *compliance.Section) error) error
	// Frameworks calls fn for every framework, in id order.
	Frameworks(ctx context.Context, fn func(*compliance.Framework) error) error
	// Exceptions calls fn for every posture exception, by posture id.
	Exceptions(ctx context.Context, fn func(postureID int64, e *compliance.Exception) error) error
	// Runs calls fn for every run, oldest first.
	Runs(ctx context.Context, fn func(*compliance.Run) error) error
	// RunPolicies returns the per-policy summaries of run id.
	RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error)

	// Close releases the database.
	Close() error
}

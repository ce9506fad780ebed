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
	// Controls calls fn for every stored control, in id order.
	Controls(ctx context.Context, fn func(*compliance.Control) error) error
	// Runs calls fn for every run, oldest first.
	Runs(ctx context.Context, fn func(*compliance.Run) error) error
	// RunPolicies returns the per-policy summaries of run id.
	RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error)

	// Close releases the database.
	Close() error
}

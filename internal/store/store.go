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

// LockedError says another sync holds the database.
type LockedError struct {
	Holder string // what the lock says of its holder (pid, start time)
}

func (e *LockedError) Error() string {
	return "another pcsync sync is writing to this database (" + e.Holder + "); wait for it to finish"
}

// PlannedBatch is one batch of a run's plan.
type PlannedBatch struct {
	No       int64
	PolicyID int64
	Kind     string   // "pcrs" (one postureInfo call) or "classic" (a policy's posture/info pages)
	HostIDs  []string // pcrs: the hosts to ask for, as Qualys sent them
	// SubscriptionID is sent back with the host ids, as Qualys's clients do.
	SubscriptionID string
	Filtered       bool  // ask only for what changed since the run's Since
	Cursor         int64 // classic: id_min of the next page (0: from the start)
}

// BatchCursor records how far a classic batch got: the id_min of its next
// page, and the statuses of the page just stored (added to the batch's).
type BatchCursor struct {
	BatchNo int64
	Next    int64
	Counts  compliance.Counts
	Rejects int64 // records of the page that did not decode
}

// Batch is one unit of writing: posture records and the plan batches whose
// last records they are. A Store applies a Batch in one transaction, so a
// plan batch is marked done if and only if all its records are stored.
type Batch struct {
	RunID    int64
	Postures []compliance.Posture
	Done     []BatchDone
	// Cursors advance classic batches, committed with the page's records.
	Cursors []BatchCursor
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
	// Counted says the batch's counts were added page by page with its
	// cursors (classic); the marker only finishes it.
	Counted bool
	// Rejects is how many of the batch's records did not decode.
	Rejects int64
	// Whole lists the hosts whose every posture of the policy the batch
	// asked for (an unfiltered PCRS batch): their pending whole fetch, set
	// by UpdatePolicyHosts, is done.
	Whole []int64
}

// Plan is what a run will fetch, recorded before it fetches any of it.
type Plan struct {
	Batches []PlannedBatch
	// Policies are the per-policy facts known before fetching: title,
	// hosts asked for, errors, hosts that left.
	Policies []compliance.PolicySummary
	// Problems are steps that failed without stopping the run.
	Problems []string
}

// Store is a pcsync database. Methods are safe for use by one writer
// goroutine and any number of readers; implementations serialize writes.
type Store interface {
	// BeginRun records a new run in state running and sets r.ID.
	BeginRun(ctx context.Context, r *compliance.Run) error
	// FinishRun records how run r ended: status, message, counts, its
	// problems (those recorded with the plan are kept when r has none) and
	// the summary of each policy.
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

	// AcquireSyncLock takes the database's sync lock, or fails with a
	// *LockedError if another sync holds it. The lock dies with its process.
	AcquireSyncLock(ctx context.Context) (release func(), err error)
	// PlanRun records run runID's plan, every batch pending; from then on
	// the run can be resumed.
	PlanRun(ctx context.Context, runID int64, plan *Plan) error
	// UnfinishedRun returns the latest planned run, with no run after it,
	// that did not finish: killed or interrupted, or failed with batches
	// pending. It returns the run's batches not done (none when only its
	// end steps are left); ErrNotFound if there is no such run.
	UnfinishedRun(ctx context.Context) (*compliance.Run, []PlannedBatch, error)
	// ResumeRun marks r running again and counts the resumption.
	ResumeRun(ctx context.Context, r *compliance.Run) error
	// AbandonRun discards the pending batches of an unfinished run, saying why.
	AbandonRun(ctx context.Context, runID int64, why string) error
	// AbandonStopped marks abandoned every run still "running" but run
	// except: the sync lock is held, so their process is gone.
	AbandonStopped(ctx context.Context, except int64) error
	// FailBatch records that a batch could not be fetched, and why.
	FailBatch(ctx context.Context, runID, batchNo int64, msg string) error
	// RunSummaries computes the per-policy summary of run runID from its
	// plan and its batches: what the stored ones returned and rejected, and
	// which failed (their errors follow the policy's error of the plan).
	RunSummaries(ctx context.Context, runID int64) ([]compliance.PolicySummary, error)
	// LastSucceeded returns the latest run that succeeded; ErrNotFound if none.
	LastSucceeded(ctx context.Context) (*compliance.Run, error)
	// UpdatePolicyHosts records that policyID covers hostIDs as of run
	// runID. Hosts it covered before and not now are marked stale, with
	// their postures of the policy; it returns the hosts that are new to
	// the policy, back in it, or not yet fetched whole since (each must be
	// fetched whole; see BatchDone.Whole), how many hosts left, and how
	// many postures that made stale.
	UpdatePolicyHosts(ctx context.Context, runID, policyID int64, hostIDs []int64) (added []int64, left, stale int64, err error)
	// MarkStale marks stale the postures of policies that run runID, a
	// complete full run, did not return, and returns how many per policy.
	MarkStale(ctx context.Context, runID int64, policyIDs []int64) (map[int64]int64, error)

	// Postures calls fn for every stored posture record, by policy, then posture id.
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
	// History calls fn for every status change, in the order they were seen.
	History(ctx context.Context, fn func(*compliance.StatusChange) error) error
	// Diff summarizes per policy what changed after run from, up to and
	// including run to.
	Diff(ctx context.Context, from, to int64) ([]compliance.PolicyDiff, error)
	// Changes calls fn for every change after run from up to run to.
	Changes(ctx context.Context, from, to int64, fn func(*compliance.Change) error) error
	// Runs calls fn for every run, oldest first.
	Runs(ctx context.Context, fn func(*compliance.Run) error) error
	// RunPolicies returns the per-policy summaries of run id.
	RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error)

	// Close releases the database.
	Close() error
}

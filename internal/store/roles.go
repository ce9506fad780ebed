package store

import (
	"context"

	"pcsync/internal/compliance"
)

// Sink is what a sync writes. Methods are called by one goroutine at a time
// (the engine's writer); readers may read concurrently.
type Sink interface {
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
	// and b.Done and b.Cursors are recorded in the same transaction.
	//
	// History: a posture whose stored status differs from the record's gets
	// exactly one history row (old status, new status, the record's
	// postureModifiedDate, b.RunID); a new posture, or a record whose status
	// is the stored one (a replayed batch, a batch fetched again after a
	// crash), gets none. A stale posture that comes back is no longer stale.
	Write(ctx context.Context, b *Batch) error
	// UpdatePolicyHosts records that policyID covers hostIDs as of run
	// runID. Hosts it covered before and not now are marked stale, with
	// their postures of the policy; it returns the hosts that are new to
	// the policy, back in it, or not yet fetched whole since (each must be
	// fetched whole; see BatchDone.Whole), how many hosts left, and how
	// many postures that made stale.
	UpdatePolicyHosts(ctx context.Context, runID, policyID int64, hostIDs []int64) (added []int64, left, stale int64, err error)
	// MarkStale marks stale the postures of policies that run runID, a
	// complete full run, did not return, and returns how many per policy,
	// with the hosts that had their last current posture of the policy
	// among them.
	MarkStale(ctx context.Context, runID int64, policyIDs []int64) (map[int64]Stale, error)
}

// Stale is what a full run's end marked stale in one policy.
type Stale struct {
	Postures int64
	Hosts    int64 // hosts left without a current posture of the policy
}

// ConcurrentSink is a Sink whose Write may be called by several goroutines
// at once (PostgreSQL), provided the records of one plan batch always come
// through one of them, in order: Writers says how many to use. A Sink
// without it is written by one goroutine at a time.
type ConcurrentSink interface {
	Sink
	Writers() int
}

// PolicyLocker is a Ledger that locks policies one by one, for sharded
// syncs: several processes write one database at once, each its own
// policies, and a policy's lock dies with its holder (so another process
// can take over the policies of one that died).
type PolicyLocker interface {
	// LockPolicies takes the lock of every policy in ids, or none: a
	// policy another process holds is a *LockedError naming it.
	LockPolicies(ctx context.Context, ids []int64) (release func(), err error)
}

// RowLoader is the write side of Reader.Rows, and is used only by pcsync
// migrate: it fills a database's registry tables with rows as Rows passes
// them (the same Go types, in key order). Rows whose key is already stored
// are kept as they are, so that a copy cut off part-way resumes where it
// stopped. It writes rows as given: no history, counts or checkpoints
// follow from them (those tables are copied too).
type RowLoader interface {
	// LastKey returns the key (the values of t.Key) of t's last row in key
	// order; nil when t is empty.
	LastKey(ctx context.Context, t *Table) ([]any, error)
	// LoadRows stores rows of t in one transaction.
	LoadRows(ctx context.Context, t *Table, rows [][]any) error
}

// Ledger is the record of runs: their outcome, their plans (so that a killed
// run is resumed), and the sync lock.
type Ledger interface {
	// AcquireSyncLock takes the database's sync lock, or fails with a
	// *LockedError if another sync holds it. The lock dies with its holder
	// (its process, or its database session).
	AcquireSyncLock(ctx context.Context) (release func(), err error)
	// BeginRun records a new run in state running and sets r.ID.
	BeginRun(ctx context.Context, r *compliance.Run) error
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
	// FinishRun records how run r ended: status, message, counts, its
	// problems (those recorded with the plan are kept when r has none) and
	// the summary of each policy.
	FinishRun(ctx context.Context, r *compliance.Run, policies []compliance.PolicySummary) error
}

// Reader is every read of the database. Iterators call fn once per row, in
// the order documented; the value passed to fn may be reused by the next
// call. A Reader works while a sync writes and holds no lock between calls.
type Reader interface {
	// Rows streams the rows of a registry table (see Tables) in its key
	// order, the values typed as its columns say (see Column).
	Rows(ctx context.Context, t *Table, fn func(row []any) error) error

	// Postures calls fn for every stored posture record, by policy and
	// posture id, with its host and technology name.
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

	// Runs calls fn for every run, oldest first.
	Runs(ctx context.Context, fn func(*compliance.Run) error) error
	// RunPolicies returns the per-policy summaries of run id.
	RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error)
	// Diff summarizes per policy what changed after run from, up to and
	// including run to.
	Diff(ctx context.Context, from, to int64) ([]compliance.PolicyDiff, error)
	// Changes calls fn for every change after run from up to run to.
	Changes(ctx context.Context, from, to int64, fn func(*compliance.Change) error) error

	// Views are the figures and lists of pcsync serve.
	Views
}

// Writer is a database opened by a sync: it writes through the Sink, keeps
// its ledger, and reads its own summary.
type Writer interface {
	Sink
	Ledger
	Reader
	// Close releases the database.
	Close() error
}

// ReadCloser is a database opened read-only.
type ReadCloser interface {
	Reader
	// Close releases the database.
	Close() error
}

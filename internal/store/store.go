// Package store is where a sync lands and what everything else reads. It
// defines the database by the roles its users play, in domain types, and
// knows no SQL:
//
//   - Sink is what a sync writes: the catalogue (policies, controls, policy
//     exports), posture batches with the batch records that commit with them,
//     host membership and stale marks. Used by internal/engine.
//   - Ledger is the run ledger: runs, their plans and resumption, and the
//     sync lock that keeps one sync per database. Used by internal/engine.
//   - Reader is every read: the registry's tables streamed row by row
//     (pcsync export, pcsync migrate), the typed views behind export, the run
//     ledger, diffs and status changes (pcsync diff). Used by internal/export,
//     the diff command and the server. A reader never writes, creates or
//     migrates anything.
//
// Which command uses which role:
//
//	pcsync sync, demo, bench   Sink + Ledger (and Reader for the summary)
//	pcsync export, diff        Reader, opened read-only
//	pcsync serve               Reader, opened read-only
//
// Open a database by its DSN with ParseDSN and the opener in internal/app
// (the composition root, the only place that knows the implementations): a
// path, "file:..." or "sqlite:..." is SQLite (store/sqlite), a
// "postgres://" or "postgresql://" URL is PostgreSQL. Every implementation
// passes the conformance suite in store/storetest, role by role.
//
// Every write is an upsert keyed by Qualys ids, so a batch written twice
// leaves the same rows as a batch written once; a batch's checkpoint commits
// in the transaction of its last records; every status change of a posture
// leaves exactly one history row.
package store

import (
	"errors"
	"fmt"

	"pcsync/internal/compliance"
)

// ErrNotFound is returned by lookups of rows that do not exist.
var ErrNotFound = errors.New("not found")

// NotPcsyncError says a database exists but is not one pcsync wrote (an
// empty file, another program's database, not a database at all). Readers
// refuse it and leave it as it was.
type NotPcsyncError struct {
	Where string // the redacted DSN or path
	Why   string // what was found instead, when known
}

func (e *NotPcsyncError) Error() string {
	msg := "not a pcsync database: " + e.Where
	if e.Why != "" {
		msg += " (" + e.Why + ")"
	}
	return msg
}

// SchemaError says the database's schema is not the one this pcsync reads:
// older (a sync upgrades it) or newer (a newer pcsync wrote it).
type SchemaError struct {
	Where      string
	Have, Want int
}

func (e *SchemaError) Error() string {
	if e.Have > e.Want {
		return fmt.Sprintf("%s has schema version %d but this pcsync knows only %d: use a newer pcsync", e.Where, e.Have, e.Want)
	}
	return fmt.Sprintf("%s has schema version %d and this pcsync reads version %d: run pcsync sync once to upgrade it", e.Where, e.Have, e.Want)
}

// DSNError says a DSN cannot name a database: a bad form, a directory that
// does not exist, a database a reader was asked to open that is not there.
// Nothing was opened or created.
type DSNError struct {
	DSN string // redacted
	Msg string
}

func (e *DSNError) Error() string { return e.DSN + ": " + e.Msg }

// LockedError says another sync holds the database.
type LockedError struct {
	Holder string // what the lock says of its holder (pid, start time)
}

func (e *LockedError) Error() string {
	return "another pcsync sync or migrate is writing to this database (" + e.Holder + "); wait for it to finish"
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

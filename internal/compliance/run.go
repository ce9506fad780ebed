package compliance

import "time"

// RunStatus is where a sync run ended up.
type RunStatus string

// The states of a run. A run is "running" until it finishes; a run still
// "running" in the database was killed.
const (
	RunRunning     RunStatus = "running"
	RunSucceeded   RunStatus = "succeeded"
	RunFailed      RunStatus = "failed"
	RunInterrupted RunStatus = "interrupted"
)

// Run is the record of one `pcsync sync`.
type Run struct {
	ID         int64
	StartedAt  time.Time
	FinishedAt time.Time
	Status     RunStatus
	Source     string // "pcrs" or "classic"
	Params     string // the run's parameters as JSON, credentials excluded
	Message    string // the error that ended the run, if any

	Policies int64
	Batches  int64
	Records  int64
	Passed   int64
	Failed   int64
	Errors   int64
	Rejects  int64

	WireBytes int64 // bytes received from Qualys
	DataBytes int64 // bytes of JSON (or XML) decoded

	Mode    string    // "full" or "incremental"
	Since   time.Time // incremental: what changed since this time was asked for
	Resumed int64     // how many times the run was resumed after a stop

	// Request is what shapes the data the run asks for (JSON), so that a
	// resumed run asks as it was planned.
	Request string
	// Problems are steps that failed without stopping the run (the control
	// list, say); the run is incomplete.
	Problems []string

	// Throttles counts the waits for a Qualys rate or concurrency limit
	// (429, 409), Retries the requests sent again after a failure.
	Throttles int64
	Retries   int64

	// Shard is the part of the policies a sharded sync took ("K/N"); ""
	// for an unsharded one.
	Shard string
}

// Run modes.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
)

// StatusChange is one change of a posture's status, as a run saw it.
type StatusChange struct {
	ID        int64
	PostureID int64
	PolicyID  int64
	HostID    int64
	ControlID int64
	OldStatus Status
	NewStatus Status
	ChangedAt time.Time // when Qualys says the status changed
	RunID     int64     // the run that saw it
}

// PolicyDiff is what changed for one policy between two runs.
type PolicyDiff struct {
	PolicyID     int64
	Title        string
	NewlyFailing int64 // postures that became Failed
	NewlyPassing int64 // postures that became Passed
	NewlyError   int64 // postures that became Error
	New          int64 // postures first seen
	Stale        int64 // postures marked stale (no longer returned, or their host left the policy)
	Revived      int64 // stale postures Qualys returned again
}

// Change is one posture change between two runs, for diff listings.
type Change struct {
	Kind      string // newly-failing, newly-passing, newly-error, new, stale, revived
	PostureID int64
	PolicyID  int64
	HostID    int64
	ControlID int64
	OldStatus Status
	NewStatus Status
	ChangedAt time.Time
	RunID     int64
}

// PolicySummary is what one run did for one policy.
type PolicySummary struct {
	PolicyID       int64
	Title          string
	HostsRequested int64
	HostsReturned  int64 // distinct hosts that returned at least one record
	Records        int64
	Passed         int64
	Failed         int64
	Errors         int64 // posture records with status Error
	Error          string
	StaleHosts     int64 // hosts that left the policy's host list in this run
	StalePostures  int64 // postures marked stale by this run
	Rejects        int64 // records that did not decode, in batches stored
	FailedBatches  int64 // batches that could not be fetched
}

// Counts tallies posture statuses.
type Counts struct {
	Records int64
	Passed  int64
	Failed  int64
	Errors  int64
}

// Add counts one posture status.
func (c *Counts) Add(s Status) {
	c.Records++
	switch s {
	case StatusPassed:
		c.Passed++
	case StatusFailed:
		c.Failed++
	case StatusError:
		c.Errors++
	}
}

// Merge adds o to c.
func (c *Counts) Merge(o Counts) {
	c.Records += o.Records
	c.Passed += o.Passed
	c.Failed += o.Failed
	c.Errors += o.Errors
}

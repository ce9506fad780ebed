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

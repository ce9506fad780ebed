package engine

import "sync/atomic"

// Progress is a live view of a run, safe to read from another goroutine
// while the run goes on (the CLI draws its progress bar from it).
type Progress struct {
	Records      atomic.Int64 // records decoded (including ones a retry fetches again)
	Stored       atomic.Int64 // records committed to the store
	WireBytes    atomic.Int64 // bytes received from the network
	DataBytes    atomic.Int64 // bytes of JSON decoded (after gunzip)
	BatchesTotal atomic.Int64
	BatchesDone  atomic.Int64
	Rejects      atomic.Int64
	Retries      atomic.Int64 // posture streams fetched again after breaking off
}

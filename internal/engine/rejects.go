package engine

import (
	"encoding/json"
	"os"
	"sync"

	"pcsync/internal/qualys"
)

// RejectFile writes rejected records as NDJSON, one line each with the
// run, batch, policy, position, field and reason, and the record as
// received. The file is created on the first reject only.
type RejectFile struct {
	path string
	mu   sync.Mutex
	f    *os.File
	n    int
}

// NewRejectFile returns a sink that appends to path.
func NewRejectFile(path string) *RejectFile { return &RejectFile{path: path} }

// Reject appends one record.
func (r *RejectFile) Reject(runID int64, b Batch, e *qualys.RecordError) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		r.f = f
	}
	line, err := json.Marshal(map[string]any{
		"runId": runID, "batch": b.No, "policyId": b.Policy.PolicyID, "record": e.Index, "offset": e.Offset,
		"field": e.Field, "error": e.Err.Error(), "raw": string(e.Raw),
	})
	if err != nil {
		return err
	}
	r.n++
	_, err = r.f.Write(append(line, '\n'))
	return err
}

// Count is how many records were written.
func (r *RejectFile) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Close closes the file if it was created.
func (r *RejectFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

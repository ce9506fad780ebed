package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

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

// Check says, before a run, whether the file could be written: an
// existing file opened for appending, else its directory writable. A
// reject found late in a long run must not be lost for a bad path.
func (r *RejectFile) Check() error {
	if f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
		return f.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the rejects file %s cannot be written: %v", r.path, errors.Unwrap(err))
	}
	dir := filepath.Dir(r.path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil || !fi.IsDir():
		return fmt.Errorf("the rejects file %s cannot be created: directory %s does not exist", r.path, dir)
	case unix.Access(dir, unix.W_OK) != nil:
		return fmt.Errorf("the rejects file %s cannot be created: directory %s is not writable", r.path, dir)
	}
	return nil
}

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

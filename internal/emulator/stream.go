package emulator

import (
	"bufio"
	"errors"
	"io"
	"time"

	"pcsync/internal/compliance"
)

// Filters are the postureInfo query filters. Zero values do not filter.
type Filters struct {
	LastEvaluationDate time.Time // records evaluated on or after
	LastScanDate       time.Time // hosts scanned on or after
	LastScanDateFrom   time.Time // hosts scanned in [From, To]
	LastScanDateTo     time.Time
	StatusChangedSince time.Time // records whose status changed on or after
}

func (f *Filters) hostOK(h *compliance.Host) bool {
	scan := h.ComplianceLastScanDate
	if !f.LastScanDate.IsZero() && scan.Before(f.LastScanDate) {
		return false
	}
	if !f.LastScanDateFrom.IsZero() && (scan.Before(f.LastScanDateFrom) || scan.After(f.LastScanDateTo)) {
		return false
	}
	return true
}

func (f *Filters) recordOK(r *compliance.Posture) bool {
	if !f.LastEvaluationDate.IsZero() && r.LastEvaluatedDate.Before(f.LastEvaluationDate) {
		return false
	}
	if !f.StatusChangedSince.IsZero() && r.PostureModifiedDate.Before(f.StatusChangedSince) {
		return false
	}
	return true
}

// StreamOptions say what a postureInfo answer carries.
type StreamOptions struct {
	Evidence bool
	Extended bool // add the fields of newer API versions (policyTitle, controlStatement, netBios)
	Style    Style
	Filters  Filters
	// Fault injection: every MalformedEvery-th record is malformed, and a
	// Broken stream has garbage after its second record.
	MalformedEvery int
	Broken         bool
	// Oversize replaces the second record by one this many bytes long.
	Oversize int64
}

// PolicyRequest is one element of the postureInfo request body: a policy and
// the hosts to report on, as host ids resolved by the hostids call.
type PolicyRequest struct {
	PolicyID int64
	HostIDs  []int64
}

// EachPosture calls fn for every record the request selects, in request
// order (policy, then host, then control), until fn returns false. Host ids
// the policy does not cover are skipped, as Qualys does.
func (e *Estate) EachPosture(reqs []PolicyRequest, opts StreamOptions, fn func(*compliance.Posture) bool) {
	g := &recordGen{e: e, evidence: opts.Evidence, extended: opts.Extended}
	for _, req := range reqs {
		pi, ok := e.byID[req.PolicyID]
		if !ok {
			continue
		}
		p := &e.policies[pi]
		for _, hid := range req.HostIDs {
			idx := e.hostIndex(hid)
			if idx < 0 || !e.covers(p, idx) {
				continue
			}
			hi := e.hostInfo(idx)
			if !opts.Filters.hostOK(&hi.host) {
				continue
			}
			if !g.eachRecord(p, &hi, func(r *compliance.Posture) bool {
				if !opts.Filters.recordOK(r) {
					return true
				}
				return fn(r)
			}) {
				return
			}
		}
	}
}

// WritePosture writes the JSON array of the records the request selects to w
// and returns how many it wrote. It holds one record at a time.
func (e *Estate) WritePosture(w io.Writer, reqs []PolicyRequest, opts StreamOptions) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 4096)
	n := 0
	var err error
	e.EachPosture(reqs, opts, func(r *compliance.Posture) bool {
		if n == 0 {
			buf = append(buf[:0], '[')
		} else {
			buf = append(buf[:0], ',')
		}
		n++
		switch {
		case opts.Oversize > 0 && n == 2:
			_, err = bw.Write(buf)
			err = errors.Join(err, writeOversize(bw, r.ID, opts.Oversize))
			return err == nil
		case opts.MalformedEvery > 0 && n%opts.MalformedEvery == 0:
			buf = append(buf, malformedJSON(r.ID)...)
		default:
			buf = appendPosture(buf, r, opts.Style)
		}
		if opts.Broken && n == 2 {
			buf = append(buf, " <html>Proxy Error</html> "...)
		}
		_, err = bw.Write(buf)
		return err == nil
	})
	if err != nil {
		return n, err
	}
	if n == 0 {
		_, err = bw.WriteString("[]")
	} else {
		_, err = bw.WriteString("]")
	}
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}

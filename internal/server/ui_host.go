package server

import (
	"net/http"
	"strconv"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// hostView is a host: its figures, every current posture across policies,
// the flips of their status over time and the exceptions on them.
type hostView struct {
	*store.HostFigures
	Unscanned     bool // not scanned for unscannedDays
	Postures      []postureLine
	Next          string
	Policy        int64
	Status        compliance.Status
	PolicyOptions []option
	Changes       []changeLine
	Exceptions    []store.ExceptionView
}

// postureLine is a posture with the names of its ids.
type postureLine struct {
	store.PostureView
	Policy, Control string
}

// Bounds of a host's page.
const (
	hostChangesListed    = 100
	hostExceptionsListed = 200
)

func (s *Server) uiHost(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.uiNotFound(w, r)
		return
	}
	q, err := uiQuery(r, "policy", "status", "cursor")
	var v hostView
	if err == nil {
		v.Policy, err = q.id("policy")
	}
	if err == nil {
		v.Status, err = q.status("status")
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	ctx := r.Context()
	n := s.names(ctx)
	var chs []compliance.StatusChange
	err = first(
		func() (err error) { v.HostFigures, err = s.rd.Host(ctx, id); return },
		func() (err error) {
			f := store.PostureFilter{Host: id, Policy: v.Policy, Status: v.Status}
			v.Next, err = s.rd.ListPostures(ctx, f, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, func(p *store.PostureView) error {
				v.Postures = append(v.Postures, postureLine{PostureView: *p, Policy: n.policy(p.PolicyID)})
				return nil
			})
			nameControls(n, v.Postures, func(p *postureLine) (int64, *string) { return p.ControlID, &p.Control })
			return
		},
		func() (err error) { chs, err = s.rd.HostChanges(ctx, id, hostChangesListed); return },
		func() (err error) { v.Exceptions, err = hostExceptions(r, s.rd, id); return },
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.Changes = n.changeLines(chs)
	v.PolicyOptions = n.policyOptions(v.Policy)
	v.Unscanned = !v.ComplianceLastScanDate.IsZero() && v.ComplianceLastScanDate.Before(s.opts.Now().Add(-unscannedDays*24*time.Hour))
	s.renderPage(w, r, http.StatusOK, "host", page{Title: hostTitle(&v.Host), Nav: "hosts", Data: &v})
}

// hostExceptions are the exceptions on a host's current postures, in the
// postures' order.
func hostExceptions(r *http.Request, rd store.Reader, id int64) ([]store.ExceptionView, error) {
	var out []store.ExceptionView
	_, err := rd.ListPostures(r.Context(), store.PostureFilter{Host: id, Excepted: true}, store.Page{}, func(p *store.PostureView) error {
		out = append(out, store.ExceptionView{PostureID: p.ID, PolicyID: p.PolicyID, HostID: p.Host.ID, ControlID: p.ControlID,
			Status: p.Status, Exception: *p.Exception})
		if len(out) == hostExceptionsListed {
			return errStop
		}
		return nil
	})
	if err == errStop {
		err = nil
	}
	return out, err
}

// hostTitle names a host by its DNS name, else its address, else its id.
func hostTitle(h *compliance.Host) string {
	switch {
	case h.DNS != "":
		return h.DNS
	case h.IP != "":
		return h.IP
	}
	return "Host " + strconv.FormatInt(h.ID, 10)
}

// tables are the host's changes and exceptions as CSV; its postures are
// an /api/v1 list.
func (v *hostView) tables() map[string]table {
	return map[string]table{
		"changes":    tableOf(v.Changes, func(r export.Row, c *changeLine) export.Row { return changeRow(r, &c.StatusChange) }),
		"exceptions": tableOf(v.Exceptions, exceptionRow),
	}
}

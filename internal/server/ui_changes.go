package server

import (
	"net/http"
	"net/url"
	"strconv"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// changesView is a page of the postures whose status changed between two
// runs, newly failing first.
type changesView struct {
	Filter   store.ChangeFilter
	Changes  []changeLine
	Next     string
	From, To []option
	// CSV is the download of the list shown: its runs named both, since
	// from=0 (the start) would otherwise be taken for the default.
	CSV string
}

// runOptionsListed bounds the runs the change filter offers.
const runOptionsListed = 100

func (s *Server) uiChanges(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "from", "to", "status", "cursor")
	var v changesView
	if err == nil {
		v.Filter, err = changeFilter(r, s.rd, q)
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	ctx := r.Context()
	var chs []compliance.StatusChange
	var runs []compliance.Run
	err = first(
		func() (err error) {
			if v.Filter.To != 0 {
				v.Next, err = s.listChanges(ctx, v.Filter, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&chs))
			}
			return
		},
		func() (err error) {
			_, err = s.rd.ListRuns(ctx, store.Page{Limit: runOptionsListed}, appendTo(&runs))
			return
		},
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.Changes = s.names(ctx).changeLines(chs)
	v.From, v.To = runOptions(runs, v.Filter.From, true), runOptions(runs, v.Filter.To, false)
	csv := url.Values{"from": {strconv.FormatInt(v.Filter.From, 10)}, "format": {"csv"}}
	if v.Filter.To != 0 {
		csv.Set("to", strconv.FormatInt(v.Filter.To, 10))
	}
	if v.Filter.Status != "" {
		csv.Set("status", string(v.Filter.Status))
	}
	v.CSV = "/api/v1/changes?" + csv.Encode()
	s.renderPage(w, r, http.StatusOK, "changes", page{Title: "Changes", Nav: "changes", Data: &v})
}

// runOptions are the finished runs as options of a filter; with start,
// "before the first run" too.
func runOptions(runs []compliance.Run, current int64, start bool) []option {
	var out []option
	for _, x := range runs {
		if x.FinishedAt.IsZero() {
			continue
		}
		out = append(out, option{Value: strconv.FormatInt(x.ID, 10), Selected: x.ID == current,
			Label: "Run " + strconv.FormatInt(x.ID, 10) + ", " + when(x.FinishedAt) + ", " + string(x.Status)})
	}
	if start {
		out = append(out, option{Value: "0", Label: "Before the first run", Selected: current == 0})
	}
	return out
}

// exceptionsView is a page of the exceptions: those still running by end
// date (those expiring within 30 days first), then those ended.
type exceptionsView struct {
	Filter     store.ExceptionFilter
	Exceptions []exceptionLine
	Next       string
	Statuses   []option
}

// exceptionLine is an exception with the names of its posture's ids.
type exceptionLine struct {
	store.ExceptionView
	Policy, Host, Control string
}

func (s *Server) uiExceptions(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "status", "cursor")
	var v exceptionsView
	ctx := r.Context()
	n := s.names(ctx)
	if err == nil {
		v.Filter, err = s.exceptionFilter(r, q)
	}
	if err == nil {
		v.Next, err = s.listExceptions(ctx, v.Filter, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, func(e *store.ExceptionView) error {
			v.Exceptions = append(v.Exceptions, exceptionLine{ExceptionView: *e, Policy: n.policy(e.PolicyID)})
			return nil
		})
		nameHosts(n, v.Exceptions, func(e *exceptionLine) (int64, *string) { return e.HostID, &e.Host })
		nameControls(n, v.Exceptions, func(e *exceptionLine) (int64, *string) { return e.ControlID, &e.Control })
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.Statuses = []option{{Label: "Any status", Selected: v.Filter.Status == ""}}
	for _, st := range exceptionStatuses {
		v.Statuses = append(v.Statuses, option{Value: st, Label: st, Selected: v.Filter.Status == st})
	}
	s.renderPage(w, r, http.StatusOK, "exceptions", page{Title: "Exceptions", Nav: "exceptions", Data: &v})
}

package server

import (
	"net/http"
	"strconv"

	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// runsView is a page of the run ledger, latest first.
type runsView struct {
	Runs []compliance.Run
	Next string
}

func (s *Server) uiRuns(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "cursor")
	var v runsView
	if err == nil {
		v.Next, err = s.rd.ListRuns(r.Context(), store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&v.Runs))
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, "runs", page{Title: "Runs", Nav: "runs", Data: &v})
}

// runView is one run: what it did, and per policy how complete it was.
type runView struct {
	*compliance.Run
	Summaries []compliance.PolicySummary
	// Incomplete counts the policies that lack hosts or had problems.
	Incomplete int
}

func (s *Server) uiRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.uiNotFound(w, r)
		return
	}
	_, err := uiQuery(r)
	var v runView
	if err == nil {
		v.Run, err = s.rd.Run(r.Context(), id)
	}
	if err == nil {
		v.Summaries, err = s.rd.RunPolicies(r.Context(), id)
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	for i := range v.Summaries {
		if incomplete(v.Run, &v.Summaries[i]) {
			v.Incomplete++
		}
	}
	s.renderPage(w, r, http.StatusOK, "run", page{Title: "Run " + strconv.FormatInt(id, 10), Nav: "runs", Data: &v})
}

// tables are the run's policies as CSV.
func (v *runView) tables() map[string]table {
	full := v.Run.Mode != compliance.ModeIncremental
	return map[string]table{"policies": tableOf(v.Summaries, func(r export.Row, p *compliance.PolicySummary) export.Row {
		return runPolicyRow(r, p, full)
	})}
}

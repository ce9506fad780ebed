package server

import (
	"context"
	"html/template"
	"net/http"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// overviewView is the overview: the estate's figures and their breakdowns,
// the trend, the data's freshness and what changed in the last run.
type overviewView struct {
	Summary        *store.Summary
	Breakdown      *store.Breakdown
	Policies       []store.PolicyFigures
	Next           string // the policies' next page
	Frameworks     []store.FrameworkFigures
	MoreFrameworks bool
	Trend          []store.TrendPoint
	Chart          template.HTML
	Fresh          freshness
	Changes        []changeLine
	From, To       int64 // the runs of the changes
	MoreChanges    bool
}

// freshness is how current the figures are.
type freshness struct {
	LastRun *compliance.Run
	// Incomplete are the last run's policies that lack hosts or had
	// problems.
	Incomplete []compliance.PolicySummary
	Unscanned  int64 // hosts with current postures not scanned for unscannedDays
	Schedule   *ScheduleState
}

// Overview sizes.
const (
	unscannedDays      = 30
	overviewFrameworks = 10
	overviewChanges    = 8
)

func (s *Server) uiOverview(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "cursor")
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	ctx := r.Context()
	var v overviewView
	var fwNext, chNext string
	var chs []compliance.StatusChange
	err = first(
		func() (err error) { v.Summary, v.Breakdown, err = s.rd.Overview(ctx); return },
		func() (err error) {
			v.Next, err = s.rd.ListPolicies(ctx, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&v.Policies))
			return
		},
		func() (err error) {
			fwNext, err = s.rd.ListFrameworks(ctx, store.Page{Limit: overviewFrameworks}, appendTo(&v.Frameworks))
			return
		},
		func() (err error) { v.Trend, err = s.rd.Trend(ctx, 0, 0); return },
		func() (err error) { v.Fresh, err = s.freshness(ctx, v.Summary.LastRun); return },
		func() (err error) { v.From, v.To, err = lastTwoRuns(r, s.rd); return },
		func() (err error) {
			if v.To != 0 {
				chNext, err = s.rd.ListChanges(ctx, store.ChangeFilter{From: v.From, To: v.To}, store.Page{Limit: overviewChanges}, appendTo(&chs))
			}
			return
		},
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.MoreFrameworks, v.MoreChanges = fwNext != "", chNext != ""
	v.Changes = s.names(ctx).changeLines(chs)
	v.Chart = trendChart("trend", "Compliance at the end of each run", v.Trend)
	s.renderPage(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: &v})
}

// freshness says when the data was synced, whether that run was whole,
// which hosts were not scanned lately and when the next sync runs.
func (s *Server) freshness(ctx context.Context, last *compliance.Run) (freshness, error) {
	f := freshness{LastRun: last}
	if s.opts.Schedule != nil {
		st := s.opts.Schedule()
		f.Schedule = &st
	}
	var err error
	f.Unscanned, err = s.rd.UnscannedHosts(ctx, s.opts.Now().Add(-unscannedDays*24*time.Hour))
	if err != nil || last == nil || last.FinishedAt.IsZero() {
		return f, err
	}
	ps, err := s.rd.RunPolicies(ctx, last.ID)
	for _, p := range ps {
		if incomplete(last, &p) {
			f.Incomplete = append(f.Incomplete, p)
		}
	}
	return f, err
}

// incomplete reports whether a run's policy had problems, or lacks hosts
// it asked for: in a full run every host asked for returns posture; in an
// incremental one, only those with a change do.
func incomplete(run *compliance.Run, p *compliance.PolicySummary) bool {
	short := p.HostsReturned < p.HostsRequested && run.Mode != compliance.ModeIncremental
	return short || p.Error != "" || p.FailedBatches > 0 || p.Rejects > 0
}

// tables are the overview's breakdowns as CSV; the policies, frameworks,
// trend and changes are /api/v1 lists.
func (v *overviewView) tables() map[string]table {
	return map[string]table{
		"criticality": tableOf(v.Breakdown.Criticality, criticalityRow),
		"technology":  tableOf(v.Breakdown.Technology, technologyRow),
	}
}

// first runs steps in turn and returns the first error.
func first(steps ...func() error) error {
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// appendTo is a list's row function that appends each row to dst.
func appendTo[T any](dst *[]T) func(*T) error {
	return func(x *T) error { *dst = append(*dst, *x); return nil }
}

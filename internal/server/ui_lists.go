package server

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// The list pages: hosts, postures and frameworks. Each takes the filters
// of its /api/v1 list, shows a page of it and links its next page and its
// CSV download.

// hostsView is a page of the host list.
type hostsView struct {
	Filter        store.HostFilter
	Hosts         []store.HostFigures
	Next          string
	PolicyOptions []option
	// UnscannedBefore marks the hosts not scanned for unscannedDays.
	UnscannedBefore time.Time
	UnscannedDays   string // the filter as given
}

func (s *Server) uiHosts(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "policy", "status", "q", "unscanned_days", "cursor")
	var v hostsView
	if err == nil {
		v.Filter, err = hostFilter(q, s.opts.Now())
	}
	ctx := r.Context()
	if err == nil {
		v.Next, err = s.rd.ListHosts(ctx, v.Filter, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&v.Hosts))
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.PolicyOptions = s.names(ctx).policyOptions(v.Filter.Policy)
	v.UnscannedBefore = s.opts.Now().Add(-unscannedDays * 24 * time.Hour)
	v.UnscannedDays = q.Get("unscanned_days")
	s.renderPage(w, r, http.StatusOK, "hosts", page{Title: "Hosts", Nav: "hosts", Data: &v})
}

// posturesView is a page of the posture list.
type posturesView struct {
	Filter        store.PostureFilter
	Since         string // the since filter as given
	Postures      []postureRowView
	Next          string
	PolicyOptions []option
	TechOptions   []option
	CritOptions   []option
}

// postureRowView is a posture with the names of its ids.
type postureRowView struct {
	postureLine
	HostName string
}

func (s *Server) uiPostures(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "policy", "control", "host", "status", "technology", "since", "framework", "criticality", "section", "cursor")
	var v posturesView
	if err == nil {
		v.Filter, err = postureFilter(q)
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	ctx := r.Context()
	n := s.names(ctx)
	var techs []compliance.Technology
	err = first(
		func() (err error) {
			v.Next, err = s.rd.ListPostures(ctx, v.Filter, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, func(p *store.PostureView) error {
				v.Postures = append(v.Postures, postureRowView{postureLine: postureLine{PostureView: *p, Policy: n.policy(p.PolicyID)}})
				return nil
			})
			nameHosts(n, v.Postures, func(p *postureRowView) (int64, *string) { return p.Host.ID, &p.HostName })
			nameControls(n, v.Postures, func(p *postureRowView) (int64, *string) { return p.ControlID, &p.Control })
			return
		},
		// the technology filter offers every stored technology (the
		// breakdown's, with current postures only, cost half the page)
		func() error {
			return s.rd.Technologies(ctx, func(t *compliance.Technology) error { techs = append(techs, *t); return nil })
		},
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.Since = q.Get("since")
	v.PolicyOptions = n.policyOptions(v.Filter.Policy)
	v.TechOptions = []option{{Label: "Any technology", Selected: v.Filter.Technology == 0}}
	slices.SortFunc(techs, func(a, b compliance.Technology) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for _, t := range techs {
		v.TechOptions = append(v.TechOptions, option{Value: strconv.FormatInt(t.ID, 10), Label: t.Name, Selected: t.ID == v.Filter.Technology})
	}
	v.CritOptions = []option{{Label: "Any criticality", Selected: v.Filter.Criticality == ""}}
	for i := len(criticalityLabels) - 1; i >= 0; i-- {
		l := criticalityLabels[i]
		v.CritOptions = append(v.CritOptions, option{Value: l, Label: l, Selected: v.Filter.Criticality == l})
	}
	s.renderPage(w, r, http.StatusOK, "postures", page{Title: "Postures", Nav: "postures", Data: &v})
}

// frameworksView is a page of the framework list.
type frameworksView struct {
	Frameworks []store.FrameworkFigures
	Next       string
}

func (s *Server) uiFrameworks(w http.ResponseWriter, r *http.Request) {
	q, err := uiQuery(r, "cursor")
	var v frameworksView
	if err == nil {
		v.Next, err = s.rd.ListFrameworks(r.Context(), store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&v.Frameworks))
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	s.renderPage(w, r, http.StatusOK, "frameworks", page{Title: "Frameworks", Nav: "frameworks", Data: &v})
}

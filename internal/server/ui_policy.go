package server

import (
	"html/template"
	"net/http"
	"strconv"

	"pcsync/internal/store"
)

// policyView is a policy: its figures and trend, its sections,
// technologies and frameworks, and its controls worst first, filtered.
type policyView struct {
	*store.PolicyView
	Trend    []store.TrendPoint
	Chart    template.HTML
	Controls []store.ControlFigures
	Next     string
	Filter   store.ControlFilter
	Filtered bool // a filter was given, so no controls means none matched
	// The options of the filters.
	CritOptions, TechOptions, SectionOptions []option
}

func (s *Server) uiPolicy(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.uiNotFound(w, r)
		return
	}
	q, err := uiQuery(r, "status", "criticality", "technology", "section", "cursor")
	var v policyView
	if err == nil {
		v.Filter, err = controlFilter(q)
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	for _, name := range []string{"status", "criticality", "technology", "section"} {
		v.Filtered = v.Filtered || q.Get(name) != ""
	}
	ctx := r.Context()
	err = first(
		func() (err error) { v.PolicyView, err = s.rd.Policy(ctx, id); return },
		func() (err error) { v.Trend, err = s.rd.Trend(ctx, id, 0); return },
		func() (err error) {
			v.Next, err = s.listPolicyControls(ctx, id, v.Filter, store.Page{Limit: uiPageSize, After: q.Get("cursor")}, appendTo(&v.Controls))
			return
		},
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.Chart = trendChart("trend", "Compliance of this policy at the end of each run", v.Trend)
	v.setOptions()
	s.renderPage(w, r, http.StatusOK, "policy", page{Title: v.Title, Data: &v})
}

// setOptions fills the options of the control filters.
func (v *policyView) setOptions() {
	v.CritOptions = []option{{Label: "Any criticality", Selected: v.Filter.Criticality < 0}}
	for i := len(criticalityLabels) - 1; i >= 0; i-- {
		v.CritOptions = append(v.CritOptions, option{Value: criticalityLabels[i], Label: criticalityLabels[i],
			Selected: v.Filter.Criticality == int64(i)})
	}
	v.TechOptions = []option{{Label: "Any technology", Selected: v.Filter.Technology == 0}}
	for _, t := range v.Technologies {
		v.TechOptions = append(v.TechOptions, option{Value: strconv.FormatInt(t.ID, 10), Label: t.Name,
			Selected: v.Filter.Technology == t.ID})
	}
	v.SectionOptions = []option{{Label: "Any section", Selected: v.Filter.Section < 0}}
	for _, sec := range v.Sections {
		v.SectionOptions = append(v.SectionOptions, option{Value: strconv.FormatInt(sec.Number, 10),
			Label: strconv.FormatInt(sec.Number, 10) + ". " + sec.Heading, Selected: v.Filter.Section == sec.Number})
	}
}

// tables are the policy's sections, technologies and frameworks as CSV;
// its controls are an /api/v1 list.
func (v *policyView) tables() map[string]table {
	return map[string]table{
		"sections":     tableOf(v.Sections, sectionRow),
		"technologies": tableOf(v.Technologies, technologyRow),
		"frameworks":   tableOf(v.Frameworks, frameworkRow),
	}
}

package server

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"

	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// controlView is a control: what it checks and why, how to fix it, where
// it applies, and the hosts that fail it, grouped by what they have instead
// of the expected value and listed with their evidence.
type controlView struct {
	*store.ControlView
	Texts       []compliance.ControlTechnology // per technology: rationale, remediation, expected value
	Policy      int64                          // the policy of ?policy=; 0 is every policy
	PolicyTitle string
	In          store.Figures // the control's figures in Policy, or in all
	Values      []store.ValueGroup
	Value       *string // the value group of ?value=, whose hosts are listed
	Failing     []failure
	Next        string
	failingCSV  table // every failing posture listed, unpaged
}

// valueGroupsShown bounds the value groups of a control's page.
const valueGroupsShown = 20

func (s *Server) uiControl(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.uiNotFound(w, r)
		return
	}
	q, err := uiQuery(r, "policy", "value", "cursor")
	var v controlView
	if err == nil {
		v.Policy, err = q.id("policy")
	}
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	if q.Has("value") {
		val := q.Get("value")
		v.Value = &val
	}
	ctx := r.Context()
	f := store.PostureFilter{Control: id, Policy: v.Policy, Status: compliance.StatusFailed}
	err = first(
		func() (err error) { v.ControlView, err = s.rd.Control(ctx, id); return },
		func() error { return v.setPolicy(ctx, s.rd) },
		func() (err error) { v.Values, err = s.rd.FailingValues(ctx, id, v.Policy, valueGroupsShown); return },
		func() (err error) {
			v.Failing, v.Next, err = failures(ctx, s.rd, f, v.Value, q.Get("cursor"), s.names(ctx), v.expected)
			return
		},
	)
	if err != nil {
		s.uiFail(w, r, err)
		return
	}
	v.failingCSV = table{sample: postureRow(nil, &store.PostureView{}), rows: func(emit func(export.Row) error) error {
		var row export.Row
		_, err := s.rd.ListPostures(ctx, f, store.Page{}, func(p *store.PostureView) error {
			if v.Value != nil && failingValue(p) != *v.Value {
				return nil
			}
			row = postureRow(row[:0], p)
			return emit(row)
		})
		return err
	}}
	s.renderPage(w, r, http.StatusOK, "control", page{Title: "Control " + r.PathValue("id"), Data: &v})
}

// setPolicy sets the figures and texts of the control in the policy asked
// for (those of every policy when none was): an unknown policy is not
// found, as is one that neither has postures of the control nor states
// it; a policy that states it without postures has no figures.
func (v *controlView) setPolicy(ctx context.Context, rd store.Reader) error {
	texts := slices.Clone(v.PolicyTexts)
	if v.Policy == 0 {
		v.In = v.Figures
	} else {
		found := false
		for _, p := range v.Policies {
			if p.ID == v.Policy {
				v.In, v.PolicyTitle, found = p.Figures, p.Title, true
			}
		}
		if !found {
			p, err := rd.Policy(ctx, v.Policy)
			if err != nil {
				return err
			}
			v.PolicyTitle = p.Title
			// no posture of the control in it: the policy must state it
			if !slices.ContainsFunc(v.PolicyTexts, func(t store.PolicyControlText) bool { return t.PolicyID == v.Policy }) {
				return &paramError{Param: "policy", Msg: fmt.Sprintf("policy %d (%s) has no control %d in this database; "+
					"the control's page without it lists the policies that have it", v.Policy, p.Title, v.Control.ID)}
			}
		}
		// The policy's own texts first: they win over the others'.
		slices.SortStableFunc(texts, func(a, b store.PolicyControlText) int {
			return cmp.Compare(b2i(a.PolicyID != v.Policy), b2i(b.PolicyID != v.Policy))
		})
	}
	merged := *v.ControlView
	merged.PolicyTexts = texts
	v.Texts = controlTechnologies(&merged)
	return nil
}

// expected is the value a posture of the policy on the technology is
// expected to have: the control library's, else what that policy states
// (never another policy's: policies may expect different values).
func (v *controlView) expected(policyID, technologyID int64) string {
	for _, t := range v.Control.Technologies {
		if t.TechnologyID == technologyID && t.Evaluate != "" {
			return t.Evaluate
		}
	}
	for _, t := range v.PolicyTexts {
		if t.PolicyID == policyID && t.TechnologyID == technologyID {
			return t.Evaluate
		}
	}
	return ""
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tables are the control's figures per policy and its value groups as
// CSV; its failing postures are an /api/v1 list, but for one value group.
func (v *controlView) tables() map[string]table {
	return map[string]table{
		"policies": tableOf(v.Policies, func(r export.Row, p *store.PolicyFigures) export.Row {
			return figureFields(append(r, export.Int("policy_id", p.ID), export.Str("title", p.Title)), p.Figures)
		}),
		"values": tableOf(v.Values, func(r export.Row, g *store.ValueGroup) export.Row {
			return append(r, export.Str("value", g.Value), export.Int("hosts", g.Hosts), export.Int("postures", g.Postures),
				export.Date("oldest_failure", g.OldestFailure))
		}),
		"failing": v.failingCSV,
	}
}

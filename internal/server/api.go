package server

import (
	"encoding/json"
	"net/http"
	"slices"

	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// array is a named array of records inside a JSON object.
type array struct {
	name string
	rows []export.Row
}

// jsonObject writes row's fields, then each array, as one JSON object.
func jsonObject(row export.Row, arrays ...array) []byte {
	b := export.AppendJSON(nil, row)
	b = b[:len(b)-1] // reopen the object
	for _, a := range arrays {
		if len(b) > 1 {
			b = append(b, ',')
		}
		name, _ := json.Marshal(a.name)
		b = append(append(b, name...), ":["...)
		for i, r := range a.rows {
			if i > 0 {
				b = append(b, ',')
			}
			b = export.AppendJSON(b, r)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// noParams refuses any query parameter.
func (s *Server) noParams(w http.ResponseWriter, r *http.Request) bool {
	if _, err := parseQuery(r); err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

func (s *Server) apiSummary(w http.ResponseWriter, r *http.Request) {
	if !s.noParams(w, r) {
		return
	}
	sum, err := s.rd.Summary(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	row := figureFields(nil, sum.Figures)
	row = append(row, export.Int("policies", sum.Policies), export.Int("hosts", sum.Hosts), export.Int("controls", sum.Controls))
	if sum.LastRun == nil {
		row = append(row, export.NullObject("last_run", 3), export.Int("id", 0), export.Str("status", ""), export.Null("finished_at"))
	} else {
		row = append(row, export.Object("last_run", 3), export.Int("id", sum.LastRun.ID), export.Str("status", string(sum.LastRun.Status)),
			export.Date("finished_at", sum.LastRun.FinishedAt))
	}
	row = append(row, export.Int("stale_postures", sum.StalePostures))
	writeJSONBytes(w, http.StatusOK, jsonObject(row))
}

func (s *Server) apiPolicies(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.policiesList())
}

func (s *Server) apiPolicy(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.apiNotFound(w, r)
		return
	}
	if !s.noParams(w, r) {
		return
	}
	v, err := s.rd.Policy(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	row := policyRow(nil, &v.PolicyFigures)
	row = append(row, export.Str("created_by", v.Policy.CreatedBy), export.Date("created_date", v.Policy.CreatedDate),
		export.Str("modified_by", v.Policy.ModifiedBy), export.Date("modified_date", v.Policy.ModifiedDate),
		export.Date("last_evaluated_date", v.Policy.LastEvaluatedDate), export.Bool("locked", v.Policy.Locked))
	var secs, techs, fws []export.Row
	for i := range v.Sections {
		secs = append(secs, sectionRow(nil, &v.Sections[i]))
	}
	for i := range v.Technologies {
		techs = append(techs, technologyRow(nil, &v.Technologies[i]))
	}
	for i := range v.Frameworks {
		fws = append(fws, frameworkRow(nil, &v.Frameworks[i]))
	}
	writeJSONBytes(w, http.StatusOK, jsonObject(row, array{"sections", secs}, array{"technologies", techs}, array{"frameworks", fws}))
}

func (s *Server) apiPolicyControls(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.policyControlsList())
}

func (s *Server) apiControl(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.apiNotFound(w, r)
		return
	}
	if !s.noParams(w, r) {
		return
	}
	v, err := s.rd.Control(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := &v.Control
	row := append(export.Row{}, export.Int("id", c.ID), export.Str("statement", c.Statement), export.Str("category", c.Category),
		export.Str("sub_category", c.SubCategory))
	row = criticalityFields(row, c.Criticality)
	row = append(row, export.Str("check_type", c.CheckType), export.Bool("user_defined", c.UserDefined),
		export.Str("remediation", c.Remediation))
	row = figureFields(row, v.Figures)
	var fws, pols []export.Row
	techs := technologyRows(controlTechnologies(v))
	for _, f := range c.Frameworks {
		fws = append(fws, export.Row{export.Int("id", f.FrameworkID), export.Str("name", f.FrameworkName),
			export.Str("reference", f.Reference), export.Str("comments", f.Comments)})
	}
	for i := range v.Policies {
		p := &v.Policies[i]
		own := *v // the texts that apply in this policy: the library's, else the policy's own
		own.PolicyTexts = slices.DeleteFunc(slices.Clone(v.PolicyTexts), func(t store.PolicyControlText) bool { return t.PolicyID != p.ID })
		pols = append(pols, append(figureFields(export.Row{export.Int("policy_id", p.ID), export.Str("title", p.Title)}, p.Figures),
			export.Raw("technologies", rowsJSON(technologyRows(controlTechnologies(&own))))))
	}
	writeJSONBytes(w, http.StatusOK, jsonObject(row, array{"technologies", techs}, array{"frameworks", fws}, array{"policies", pols}))
}

// technologyRows lays out a control's texts per technology.
func technologyRows(ts []compliance.ControlTechnology) []export.Row {
	var rows []export.Row
	for _, t := range ts {
		rows = append(rows, export.Row{export.Int("id", t.TechnologyID), export.Str("name", t.Name),
			export.Str("rationale", t.Rationale), export.Str("remediation", t.Remediation), export.Str("expected", t.Evaluate)})
	}
	return rows
}

// rowsJSON writes rows as one JSON array.
func rowsJSON(rows []export.Row) []byte {
	b := []byte{'['}
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = export.AppendJSON(b, r)
	}
	return append(b, ']')
}

// controlTechnologies merges what the control library and the policies'
// exports say of a control per technology: the library's rationale (else
// a policy's), a policy's remediation (else the control's), the expected
// value a policy states.
func controlTechnologies(v *store.ControlView) []compliance.ControlTechnology {
	var out []compliance.ControlTechnology
	index := map[int64]int{}
	for _, t := range v.Control.Technologies {
		index[t.TechnologyID] = len(out)
		out = append(out, t)
	}
	for _, pt := range v.PolicyTexts {
		i, ok := index[pt.TechnologyID]
		if !ok {
			index[pt.TechnologyID] = len(out)
			out = append(out, compliance.ControlTechnology{TechnologyID: pt.TechnologyID, Name: pt.Name})
			i = len(out) - 1
		}
		t := &out[i]
		if t.Rationale == "" {
			t.Rationale = pt.Rationale
		}
		if t.Remediation == "" {
			t.Remediation = pt.Remediation
		}
		if t.Evaluate == "" {
			t.Evaluate = pt.Evaluate
		}
	}
	for i := range out {
		if out[i].Remediation == "" {
			out[i].Remediation = v.Control.Remediation
		}
	}
	return out
}

func (s *Server) apiPostures(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.posturesList())
}

func (s *Server) apiHosts(w http.ResponseWriter, r *http.Request) { s.serveList(w, r, s.hostsList()) }

// hostChangesShown bounds the status changes of one host the API returns.
const hostChangesShown = 1000

func (s *Server) apiHost(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.apiNotFound(w, r)
		return
	}
	if !s.noParams(w, r) {
		return
	}
	ctx := r.Context()
	h, err := s.rd.Host(ctx, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// written as it is read, one row buffer reused: a host has a posture
	// per control of each of its policies
	buf := newBody()
	defer buf.free()
	b := append(export.AppendJSON(append(buf.b, `{"host":`...), hostDetailRow(nil, h)), `,"postures":[`...)
	var row export.Row
	n := 0
	_, err = s.rd.ListPostures(ctx, store.PostureFilter{Host: id}, store.Page{}, func(p *store.PostureView) error {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		row = postureRow(row[:0], p)
		b = export.AppendJSON(b, row)
		return nil
	})
	var chs []compliance.StatusChange
	if err == nil {
		chs, err = s.rd.HostChanges(ctx, id, hostChangesShown)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b = append(b, `],"changes":[`...)
	for i := range chs {
		if i > 0 {
			b = append(b, ',')
		}
		row = changeRow(row[:0], &chs[i])
		b = export.AppendJSON(b, row)
	}
	buf.b = append(b, "]}\n"...)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

func (s *Server) apiFrameworks(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.frameworksList())
}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) { s.serveList(w, r, s.runsList()) }

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		s.apiNotFound(w, r)
		return
	}
	if !s.noParams(w, r) {
		return
	}
	run, err := s.rd.Run(r.Context(), id)
	var ps []compliance.PolicySummary
	if err == nil {
		ps, err = s.rd.RunPolicies(r.Context(), id)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []export.Row
	for i := range ps {
		rows = append(rows, runPolicyRow(nil, &ps[i], run.Mode != compliance.ModeIncremental))
	}
	row := runRow(nil, run)
	row = append(row, export.Str("problems", joinLines(run.Problems)))
	writeJSONBytes(w, http.StatusOK, jsonObject(row, array{"policy_summaries", rows}))
}

func joinLines(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += "\n"
		}
		out += s
	}
	return out
}

func (s *Server) apiChanges(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.changesList())
}

func (s *Server) apiTrend(w http.ResponseWriter, r *http.Request) { s.serveList(w, r, s.trendList()) }

func (s *Server) apiExceptions(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.exceptionsList())
}

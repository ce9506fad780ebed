package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

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

func (s *Server) policiesList() list {
	return list{
		sample: policyRow(nil, &store.PolicyFigures{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListPolicies(r.Context(), page, func(p *store.PolicyFigures) error { row = policyRow(row[:0], p); return emit(row) })
			}, nil
		},
	}
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

func (s *Server) policyControlsList() list {
	return list{
		params: []string{"status", "criticality", "technology", "section"},
		sample: controlRow(nil, &store.ControlFigures{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			id, ok := pathID(r)
			if !ok {
				return nil, store.ErrNotFound
			}
			if _, err := rd.Policy(r.Context(), id); err != nil {
				return nil, err
			}
			var f store.ControlFilter
			var err error
			f.Status, err = q.status("status")
			if err == nil {
				f.Criticality, err = q.criticality("criticality")
			}
			if err == nil {
				f.Technology, err = q.id("technology")
			}
			if err == nil {
				f.Section = -1
				if q.Get("section") != "" {
					var n int
					n, err = q.intIn("section", 0, 0, 1<<30)
					f.Section = int64(n)
				}
			}
			if err != nil {
				return nil, err
			}
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListPolicyControls(r.Context(), id, f, page, func(c *store.ControlFigures) error {
					row = controlRow(row[:0], c)
					return emit(row)
				})
			}, nil
		},
	}
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
	var techs, fws, pols []export.Row
	for _, t := range controlTechnologies(v) {
		techs = append(techs, export.Row{export.Int("id", t.TechnologyID), export.Str("name", t.Name),
			export.Str("rationale", t.Rationale), export.Str("remediation", t.Remediation), export.Str("expected", t.Evaluate)})
	}
	for _, f := range c.Frameworks {
		fws = append(fws, export.Row{export.Int("id", f.FrameworkID), export.Str("name", f.FrameworkName),
			export.Str("reference", f.Reference), export.Str("comments", f.Comments)})
	}
	for i := range v.Policies {
		p := &v.Policies[i]
		pols = append(pols, figureFields(export.Row{export.Int("policy_id", p.ID), export.Str("title", p.Title)}, p.Figures))
	}
	writeJSONBytes(w, http.StatusOK, jsonObject(row, array{"technologies", techs}, array{"frameworks", fws}, array{"policies", pols}))
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

func (s *Server) posturesList() list {
	return list{
		params: []string{"policy", "control", "host", "status", "technology", "since"},
		sample: postureRow(nil, &store.PostureView{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			f, err := postureFilter(q)
			if err != nil {
				return nil, err
			}
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListPostures(r.Context(), f, page, func(p *store.PostureView) error { row = postureRow(row[:0], p); return emit(row) })
			}, nil
		},
	}
}

func postureFilter(q *query) (store.PostureFilter, error) {
	var f store.PostureFilter
	var err error
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"policy", &f.Policy}, {"control", &f.Control}, {"host", &f.Host}, {"technology", &f.Technology}} {
		if *p.dst, err = q.id(p.name); err != nil {
			return f, err
		}
	}
	if f.Status, err = q.status("status"); err != nil {
		return f, err
	}
	f.Since, err = q.date("since")
	return f, err
}

func (s *Server) apiPostures(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.posturesList())
}

func (s *Server) hostsList() list {
	return list{
		params: []string{"policy", "status", "q"},
		sample: hostRow(nil, &store.HostFigures{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			var f store.HostFilter
			var err error
			if f.Policy, err = q.id("policy"); err != nil {
				return nil, err
			}
			if f.Status, err = q.status("status"); err != nil {
				return nil, err
			}
			if f.Q = q.Get("q"); len(f.Q) > 200 {
				return nil, &paramError{Param: "q", Msg: "longer than 200 characters"}
			}
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListHosts(r.Context(), f, page, func(h *store.HostFigures) error { row = hostRow(row[:0], h); return emit(row) })
			}, nil
		},
	}
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
	b := make([]byte, 0, 64<<10)
	b = append(export.AppendJSON(append(b, `{"host":`...), hostDetailRow(nil, h)), `,"postures":[`...)
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
	writeJSONBytes(w, http.StatusOK, append(b, "]}\n"...))
}

func (s *Server) frameworksList() list {
	return list{
		sample: frameworkRow(nil, &store.FrameworkFigures{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListFrameworks(r.Context(), page, func(f *store.FrameworkFigures) error { row = frameworkRow(row[:0], f); return emit(row) })
			}, nil
		},
	}
}

func (s *Server) apiFrameworks(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.frameworksList())
}

func (s *Server) runsList() list {
	return list{
		sample: runRow(nil, &compliance.Run{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListRuns(r.Context(), page, func(x *compliance.Run) error { row = runRow(row[:0], x); return emit(row) })
			}, nil
		},
	}
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
		rows = append(rows, runPolicyRow(nil, &ps[i]))
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

// lastTwoRuns are the default of a change list: the latest finished run
// and the finished run before it.
func lastTwoRuns(r *http.Request, rd store.Reader) (from, to int64, err error) {
	_, err = rd.ListRuns(r.Context(), store.Page{}, func(x *compliance.Run) error {
		if x.FinishedAt.IsZero() || x.Status == "abandoned" {
			return nil
		}
		if to == 0 {
			to = x.ID
			return nil
		}
		from = x.ID
		return errStop
	})
	if err == errStop {
		err = nil
	}
	return from, to, err
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

func (s *Server) changesList() list {
	return list{
		params: []string{"from", "to", "status"},
		sample: changeRow(nil, &compliance.StatusChange{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			var f store.ChangeFilter
			var err error
			if f.Status, err = q.status("status"); err != nil {
				return nil, err
			}
			from, to := q.Get("from"), q.Get("to")
			if from == "" || to == "" {
				dfrom, dto, err := lastTwoRuns(r, rd)
				if err != nil {
					return nil, err
				}
				f.From, f.To = dfrom, dto
			}
			if from != "" {
				if f.From, err = q.id("from"); err != nil {
					return nil, err
				}
			}
			if to != "" {
				if f.To, err = q.id("to"); err != nil {
					return nil, err
				}
			}
			if f.To != 0 && f.From >= f.To {
				return nil, &paramError{Param: "from", Msg: "must be a run before to"}
			}
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListChanges(r.Context(), f, page, func(c *compliance.StatusChange) error { row = changeRow(row[:0], c); return emit(row) })
			}, nil
		},
	}
}

func (s *Server) apiChanges(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.changesList())
}

func (s *Server) trendList() list {
	return list{
		params: []string{"policy", "framework"},
		sample: trendRow(nil, &store.TrendPoint{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			policy, err := q.id("policy")
			if err != nil {
				return nil, err
			}
			framework, err := q.id("framework")
			if err != nil {
				return nil, err
			}
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				points, err := rd.Trend(r.Context(), policy, framework)
				if err != nil {
					return "", err
				}
				return pageSlice(page, points, func(p store.TrendPoint) int64 { return p.Run.ID }, func(p *store.TrendPoint) error {
					return emit(trendRow(nil, p))
				})
			}, nil
		},
	}
}

func (s *Server) apiTrend(w http.ResponseWriter, r *http.Request) { s.serveList(w, r, s.trendList()) }

func (s *Server) exceptionsList() list {
	return list{
		sample: exceptionRow(nil, &store.ExceptionView{}),
		open: func(r *http.Request, q *query) (readFunc, error) {
			rd := s.rd
			return func(page store.Page, emit func(export.Row) error) (string, error) {
				var row export.Row
				return rd.ListExceptions(r.Context(), page, func(e *store.ExceptionView) error { row = exceptionRow(row[:0], e); return emit(row) })
			}, nil
		},
	}
}

func (s *Server) apiExceptions(w http.ResponseWriter, r *http.Request) {
	s.serveList(w, r, s.exceptionsList())
}

// pageSlice pages a list held in memory (a short one) by an increasing key.
func pageSlice[T any](page store.Page, items []T, key func(T) int64, emit func(*T) error) (string, error) {
	var after int64 = -1 << 63
	if page.After != "" {
		n, err := decodeSliceCursor(page.After)
		if err != nil {
			return "", err
		}
		after = n
	}
	shown := 0
	for i := range items {
		if key(items[i]) <= after {
			continue
		}
		if page.Limit > 0 && shown == page.Limit {
			return encodeSliceCursor(key(items[i-1])), nil
		}
		if err := emit(&items[i]); err != nil {
			return "", err
		}
		shown++
	}
	return "", nil
}

func encodeSliceCursor(n int64) string { return "k" + strconv.FormatInt(n, 10) }

func decodeSliceCursor(c string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(c, "k"), 10, 64)
	if err != nil || !strings.HasPrefix(c, "k") {
		return 0, store.ErrBadCursor
	}
	return n, nil
}

package emulator

import (
	"net/http"
	"net/url"
	"strconv"

	"pcsync/internal/compliance"
)

// handleClassicPolicy is /api/{v}/fo/compliance/policy/: action=list or export.
func (s *Server) handleClassicPolicy(w http.ResponseWriter, r *http.Request, c *classicRequest) {
	switch c.params.Get("action") {
	case "list":
		s.classicPolicyList(w, r, c)
	case "export":
		s.classicPolicyExport(w, r, c)
	case "":
		simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): action")
	default:
		simpleReturn(w, r, http.StatusBadRequest, 1905, "parameter action has invalid value: "+c.params.Get("action"))
	}
}

// listQuery holds the parameters the list actions share.
type listQuery struct {
	details      string
	match        func(int64) bool // ids; nil: all
	idMin, idMax int64
}

func (q *listQuery) selects(id int64) bool {
	return (q.match == nil || q.match(id)) && id >= q.idMin && (q.idMax == 0 || id <= q.idMax)
}

// parseList checks an action's parameters and reads details, ids, id_min and id_max.
func parseList(w http.ResponseWriter, r *http.Request, p url.Values, action string) (*listQuery, bool) {
	if !checkParams(w, r, p, action) {
		return nil, false
	}
	q := &listQuery{}
	var ok, ok1, ok2 bool
	if q.details, ok = oneOf(w, r, p, "details", "Basic", "None", "Basic", "All"); !ok {
		return nil, false
	}
	if q.match, ok = idList(w, r, p, "ids"); !ok {
		return nil, false
	}
	q.idMin, ok1 = intParam(w, r, p, "id_min", 0)
	q.idMax, ok2 = intParam(w, r, p, "id_max", 0)
	return q, ok1 && ok2
}

func (s *Server) classicPolicyExport(w http.ResponseWriter, r *http.Request, c *classicRequest) {
	p := c.params
	if !checkParams(w, r, p, "policy/export") {
		return
	}
	if p.Get("id") == "" && p.Get("title") == "" {
		simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): id or title")
		return
	}
	if p.Get("id") != "" && p.Get("title") != "" {
		simpleReturn(w, r, http.StatusBadRequest, 1904, "Only one of these parameters may be specified: id, title")
		return
	}
	udc, ok1 := flagParam(w, r, p, "show_user_controls")
	appendix, ok2 := flagParam(w, r, p, "show_appendix")
	if !ok1 || !ok2 {
		return
	}
	est := s.Estate()
	id, err := strconv.ParseInt(p.Get("id"), 10, 64)
	if t := p.Get("title"); t != "" {
		for _, pol := range est.Policies() {
			if pol.Title == t {
				id, err = pol.ID, nil
			}
		}
	}
	d, found := est.PolicyDetail(id, udc, appendix)
	if err != nil || !found {
		simpleReturn(w, r, http.StatusBadRequest, 1905, "parameter id has invalid value: "+p.Get("id")+p.Get("title")+" (no such policy)")
		return
	}
	x := xmlAnswer(w)
	x.header("POLICY_EXPORT_OUTPUT", c.base+"/policy/policy_export_output.dtd")
	x.open("POLICY_EXPORT_OUTPUT")
	x.open("RESPONSE")
	x.text("DATETIME", compliance.FormatDate(est.Now()))
	x.open("POLICY")
	x.cdata("TITLE", d.Title)
	x.date("EXPORTED", d.Exported)
	x.cdata("COVER_PAGE", d.CoverPage)
	x.text("STATUS", d.Status)
	x.openAttr("TECHNOLOGIES", "total", strconv.Itoa(len(d.Technologies)))
	for _, t := range d.Technologies {
		x.open("TECHNOLOGY")
		x.int("ID", t.ID)
		x.cdata("NAME", t.Name)
		x.close("TECHNOLOGY")
	}
	x.close("TECHNOLOGIES")
	x.openAttr("SECTIONS", "total", strconv.Itoa(len(d.Sections)))
	for _, sec := range d.Sections {
		x.open("SECTION")
		x.int("NUMBER", sec.Number)
		x.cdata("HEADING", sec.Heading)
		x.openAttr("CONTROLS", "total", strconv.Itoa(len(sec.Controls)))
		for _, pc := range sec.Controls {
			writePolicyControl(x, &pc)
		}
		x.close("CONTROLS")
		x.close("SECTION")
	}
	x.close("SECTIONS")
	if appendix {
		writeAppendix(x, d.Frameworks)
	}
	x.close("POLICY")
	x.close("RESPONSE")
	x.close("POLICY_EXPORT_OUTPUT")
	x.w.WriteString("\n")
	x.w.Flush()
}

func writePolicyControl(x *xw, pc *compliance.PolicyControl) {
	if pc.UserDefined {
		x.open("USER_DEFINED_CONTROL")
		x.int("UDC_ID", pc.ControlID)
		x.cdata("STATEMENT", pc.Statement)
	} else {
		x.open("CONTROL")
		x.int("ID", pc.ControlID)
	}
	x.open("CRITICALITY")
	x.text("LABEL", pc.Criticality.Label)
	x.int("VALUE", pc.Criticality.Value)
	x.close("CRITICALITY")
	if pc.ReferenceText != "" {
		x.cdata("REFERENCE_TEXT", pc.ReferenceText)
	}
	x.bool("IS_CONTROL_DISABLE", pc.Disabled)
	x.open("TECHNOLOGIES")
	for _, t := range pc.Technologies {
		x.open("TECHNOLOGY")
		x.int("ID", t.TechnologyID)
		x.cdata("NAME", t.Name)
		x.cdata("RATIONALE", t.Rationale)
		if t.Remediation != "" {
			x.cdata("REMEDIATION", t.Remediation)
		}
		if t.Description != "" {
			x.cdata("DESCRIPTION", t.Description)
		}
		x.cdata("EVALUATE", t.Evaluate)
		x.close("TECHNOLOGY")
	}
	x.close("TECHNOLOGIES")
	if pc.UserDefined {
		x.close("USER_DEFINED_CONTROL")
	} else {
		x.close("CONTROL")
	}
}

// writeAppendix writes the frameworks and mandates the policy's controls map to.
func writeAppendix(x *xw, fws []compliance.FrameworkControls) {
	x.open("APPENDIX")
	x.open("FRAMEWORK_LIST")
	for _, f := range fws {
		x.open("FRAMEWORK")
		x.int("ID", f.Framework.ID)
		x.cdata("NAME", f.Framework.Name)
		x.open("CONTROL_LIST")
		for _, c := range f.Controls {
			x.open("CONTROL")
			x.int("ID", c.ControlID)
			x.cdata("REFERENCE", c.Reference)
			x.close("CONTROL")
		}
		x.close("CONTROL_LIST")
		x.close("FRAMEWORK")
	}
	x.close("FRAMEWORK_LIST")
	x.close("APPENDIX")
}

// handleClassicControl is /api/{v}/fo/compliance/control/?action=list,
// paged by truncation_limit (default 1000) with id_min.
func (s *Server) handleClassicControl(w http.ResponseWriter, r *http.Request, c *classicRequest) {
	p := c.params
	if p.Get("action") != "list" {
		if p.Get("action") == "" {
			simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): action")
		} else {
			simpleReturn(w, r, http.StatusBadRequest, 1905, "parameter action has invalid value: "+p.Get("action"))
		}
		return
	}
	q, ok := parseList(w, r, p, "control/list")
	if !ok {
		return
	}
	limit, ok := intParam(w, r, p, "truncation_limit", 1000)
	if !ok {
		return
	}
	est := s.Estate()
	ids := est.ControlIDs()
	for i := range est.policies {
		ids = append(ids, est.userControls(&est.policies[i])...)
	}
	x := xmlAnswer(w)
	x.header("CONTROL_LIST_OUTPUT", c.base+"/control/control_list_output.dtd")
	x.open("CONTROL_LIST_OUTPUT")
	x.open("RESPONSE")
	x.text("DATETIME", compliance.FormatDate(est.Now()))
	x.open("CONTROL_LIST")
	n := int64(0)
	next := int64(-1)
	for _, id := range ids {
		if !q.selects(id) {
			continue
		}
		if limit > 0 && n == limit {
			next = id
			break
		}
		ctl, _ := est.Control(id)
		writeControl(x, &ctl, q.details)
		n++
	}
	x.close("CONTROL_LIST")
	if next >= 0 {
		warning(x, c.base, "/control/", p, limit, next)
	}
	x.close("RESPONSE")
	x.close("CONTROL_LIST_OUTPUT")
	x.w.WriteString("\n")
	x.w.Flush()
}

func writeControl(x *xw, c *compliance.Control, details string) {
	x.open("CONTROL")
	x.int("ID", c.ID)
	if details == "None" {
		x.close("CONTROL")
		return
	}
	x.date("UPDATE_DATE", c.Updated)
	x.date("CREATED_DATE", c.Created)
	x.cdata("CATEGORY", c.Category)
	x.cdata("SUB_CATEGORY", c.SubCategory)
	x.cdata("STATEMENT", c.Statement)
	x.open("CRITICALITY")
	x.text("LABEL", c.Criticality.Label)
	x.int("VALUE", c.Criticality.Value)
	x.close("CRITICALITY")
	x.cdata("CHECK_TYPE", c.CheckType)
	if c.Comment != "" {
		x.cdata("COMMENT", c.Comment)
	}
	x.bool("IGNORE_ERROR", false)
	x.bool("IS_ACTIVE", c.Active)
	if c.UserDefined {
		x.bool("IS_USER_DEFINED", true)
	}
	if details == "All" {
		x.open("TECHNOLOGY_LIST")
		for _, t := range c.Technologies {
			x.open("TECHNOLOGY")
			x.int("ID", t.TechnologyID)
			x.cdata("NAME", t.Name)
			x.cdata("RATIONALE", t.Rationale)
			x.close("TECHNOLOGY")
		}
		x.close("TECHNOLOGY_LIST")
		if len(c.Frameworks) > 0 {
			x.open("FRAMEWORK_LIST")
			for _, f := range c.Frameworks {
				x.open("FRAMEWORK")
				x.int("ID", f.FrameworkID)
				x.cdata("NAME", f.FrameworkName)
				x.open("REFERENCE_LIST")
				x.open("REFERENCE")
				x.cdata("SECTION", f.Reference)
				x.close("REFERENCE")
				x.close("REFERENCE_LIST")
				x.close("FRAMEWORK")
			}
			x.close("FRAMEWORK_LIST")
		}
	}
	x.close("CONTROL")
}

package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"pcsync/internal/compliance"
)

// classicPostureQuery is a parsed posture/info request.
type classicPostureQuery struct {
	est            *Estate // the estate as of the request
	policy         *policy
	details        string
	evidence       bool // Light/All without hide_evidence
	extended       bool
	causeOfFailure bool
	remediation    bool
	limit, idMin   int64
	status         string
	changedSince   time.Time
	hosts          func(int64) bool
	controls       func(int64) bool
}

func (s *Server) parseClassicPosture(w http.ResponseWriter, r *http.Request, c *classicRequest) (*classicPostureQuery, bool) {
	p := c.params
	if !checkParams(w, r, p, "posture/list") {
		return nil, false
	}
	switch {
	case p.Get("policy_id") != "" && p.Get("policy_ids") != "":
		simpleReturn(w, r, http.StatusBadRequest, 1904, "Only one of these parameters may be specified: policy_id, policy_ids")
		return nil, false
	case p.Get("policy_id") == "" && p.Get("policy_ids") == "":
		simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): policy_id")
		return nil, false
	case p.Get("policy_ids") != "":
		simpleReturn(w, r, http.StatusBadRequest, 1907, "policy_ids is not supported by this emulator; use policy_id")
		return nil, false
	}
	est := s.Estate()
	id, err := strconv.ParseInt(p.Get("policy_id"), 10, 64)
	pi, ok := est.byID[id]
	if err != nil || !ok {
		simpleReturn(w, r, http.StatusBadRequest, 1905, "parameter policy_id has invalid value: "+p.Get("policy_id"))
		return nil, false
	}
	q := &classicPostureQuery{est: est, policy: &est.policies[pi]}
	if q.details, ok = oneOf(w, r, p, "details", "Basic", "None", "Basic", "Light", "All"); !ok {
		return nil, false
	}
	if _, ok = oneOf(w, r, p, "output_format", "xml", "xml"); !ok {
		return nil, false
	}
	var hide, ok1, ok2, ok3, ok4, ok5 bool
	hide, ok1 = flagParam(w, r, p, "hide_evidence")
	q.extended, ok2 = flagParam(w, r, p, "show_extended_evidence")
	q.causeOfFailure, ok3 = flagParam(w, r, p, "cause_of_failure")
	q.remediation, ok4 = flagParam(w, r, p, "show_remediation_info")
	_, ok5 = flagParam(w, r, p, "include_dp_name")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return nil, false
	}
	if hide && q.extended {
		simpleReturn(w, r, http.StatusBadRequest, 1907, "show_extended_evidence=1 cannot be combined with hide_evidence=1")
		return nil, false
	}
	q.evidence = !hide && (q.details == "Light" || q.details == "All")
	if q.limit, ok1 = intParam(w, r, p, "truncation_limit", 5000); !ok1 {
		return nil, false
	}
	if q.idMin, ok1 = intParam(w, r, p, "id_min", 0); !ok1 {
		return nil, false
	}
	if q.status, ok1 = oneOf(w, r, p, "status", "", "Passed", "Failed", "Error"); !ok1 {
		return nil, false
	}
	if q.changedSince, ok1 = dateParam(w, r, p, "status_changes_since"); !ok1 {
		return nil, false
	}
	if q.hosts, ok1 = idList(w, r, p, "host_ids"); !ok1 {
		return nil, false
	}
	if q.controls, ok1 = idList(w, r, p, "control_ids"); !ok1 {
		return nil, false
	}
	return q, true
}

// handleClassicPosture is /api/{v}/fo/compliance/posture/info/?action=list:
// the posture of one policy in record id order, truncation_limit records a
// page, each page with the GLOSSARY its records refer to.
func (s *Server) handleClassicPosture(w http.ResponseWriter, r *http.Request, c *classicRequest) {
	if c.params.Get("action") != "list" {
		simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): action=list")
		return
	}
	q, ok := s.parseClassicPosture(w, r, c)
	if !ok {
		return
	}
	w, broken := s.streamFaults(w, false)
	every := s.opts.Faults.MalformedEvery
	x := xmlAnswer(w)
	x.header("POSTURE_INFO_LIST_OUTPUT", c.base+"/posture/info/posture_info_list_output.dtd")
	x.open("POSTURE_INFO_LIST_OUTPUT")
	x.open("RESPONSE")
	est := q.est
	x.text("DATETIME", compliance.FormatDate(est.Now()))
	x.open("INFO_LIST")
	g := &recordGen{e: est, evidence: q.evidence}
	gl := &glossary{hosts: map[int64]*hostInfo{}, controls: map[int64]bool{}, techs: map[int64]string{}}
	var n int64
	next := int64(-1)
	est.eachPostureByID(q.policy, q.idMin, g, func(rec *compliance.Posture, hi *hostInfo) bool {
		if !q.selects(rec) {
			return true
		}
		if q.limit > 0 && n == q.limit {
			next = rec.ID
			return false
		}
		n++
		gl.add(rec, hi)
		if every > 0 && n%int64(every) == 0 { // injected: an INFO whose ID is not a number
			x.open("INFO")
			x.text("ID", "bad-"+strconv.FormatInt(rec.ID, 10))
			x.int("HOST_ID", rec.Host.ID)
			x.text("STATUS", string(rec.Status))
			x.close("INFO")
		} else {
			s.writeInfo(x, q, g, rec)
		}
		if broken && n == 2 { // injected: a stray end tag
			x.w.WriteString("</BROKEN>")
		}
		return true
	})
	x.close("INFO_LIST")
	if q.details != "None" {
		s.writeGlossary(x, q, gl)
	}
	if next >= 0 {
		warning(x, c.base, "/posture/info/", c.params, q.limit, next)
	}
	x.close("RESPONSE")
	x.close("POSTURE_INFO_LIST_OUTPUT")
	x.w.WriteString("\n")
	x.w.Flush()
}

func (q *classicPostureQuery) selects(r *compliance.Posture) bool {
	return (q.status == "" || string(r.Status) == q.status) &&
		(q.changedSince.IsZero() || !r.PostureModifiedDate.Before(q.changedSince)) &&
		(q.hosts == nil || q.hosts(r.Host.ID)) && (q.controls == nil || q.controls(r.ControlID))
}

// eachPostureByID calls fn for the records of policy p with id >= idMin in
// id order (hosts by index, then control slot, then instance).
func (e *Estate) eachPostureByID(p *policy, idMin int64, g *recordGen, fn func(*compliance.Posture, *hostInfo) bool) {
	start := 0
	if idMin > postureIDBase {
		per := int64(e.cfg.ControlsPerPolicy) * maxInstances
		start = max(0, int((idMin-postureIDBase)/per-int64(p.idx)*int64(e.cfg.Hosts)))
	}
	for idx := start; idx < e.cfg.Hosts; idx++ {
		if !e.covers(p, idx) {
			continue
		}
		hi := e.hostInfo(idx)
		if !g.eachRecord(p, &hi, func(r *compliance.Posture) bool {
			return r.ID < idMin || fn(r, &hi)
		}) {
			return
		}
	}
}

// glossary collects what a page's records refer to.
type glossary struct {
	hosts    map[int64]*hostInfo
	controls map[int64]bool
	techs    map[int64]string
	users    []string
}

func (gl *glossary) add(r *compliance.Posture, hi *hostInfo) {
	if _, ok := gl.hosts[r.Host.ID]; !ok {
		h := *hi
		gl.hosts[r.Host.ID] = &h
	}
	gl.controls[r.ControlID] = true
	gl.techs[r.Technology.ID] = r.Technology.Name
}

// exception is the exception on a failed record, if it has one (3 in 100).
func (e *Estate) exception(r *compliance.Posture) *compliance.Exception {
	h := e.hash(0xE7C, uint64(r.ID), 0)
	if r.Status != compliance.StatusFailed || h%100 >= 3 {
		return nil
	}
	created := r.LastFailDate.Add(-time.Duration(h>>8%(48*3600)) * time.Second)
	return &compliance.Exception{
		Assignee: policyOwners[int(h>>16)%len(policyOwners)], Status: []string{"Approved", "Pending", "Rejected"}[int(h>>24)%3],
		Comments: "Accepted risk until the <legacy> application is retired & replaced", CreatedBy: "compliance_admin",
		CreatedDate: created, ModifiedBy: "compliance_admin", ModifiedDate: created.Add(time.Hour), EndDate: created.Add(90 * 24 * time.Hour),
	}
}

// writeInfo writes one INFO element.
func (s *Server) writeInfo(x *xw, q *classicPostureQuery, g *recordGen, r *compliance.Posture) {
	x.open("INFO")
	x.int("ID", r.ID)
	x.int("HOST_ID", r.Host.ID)
	x.int("CONTROL_ID", r.ControlID)
	x.int("TECHNOLOGY_ID", r.TechnologyID)
	x.cdata("INSTANCE", r.Instance)
	x.text("STATUS", string(r.Status))
	x.date("POSTURE_MODIFIED_DATE", r.PostureModifiedDate)
	if q.details == "Light" || q.details == "All" {
		if r.PreviousStatus != "" {
			x.text("PREVIOUS_STATUS", string(r.PreviousStatus))
		}
		x.date("FIRST_FAIL_DATE", r.FirstFailDate)
		x.date("LAST_FAIL_DATE", r.LastFailDate)
		x.date("FIRST_PASS_DATE", r.FirstPassDate)
		x.date("LAST_PASS_DATE", r.LastPassDate)
		x.date("EVALUATION_DATE", r.LastEvaluatedDate)
		x.date("CREATED_DATE", r.Created)
	}
	if ex := q.est.exception(r); ex != nil && q.details != "None" {
		x.open("EXCEPTION")
		x.cdata("ASSIGNEE", ex.Assignee)
		x.text("STATUS", ex.Status)
		x.date("END_DATETIME", ex.EndDate)
		x.by("CREATED", ex.CreatedDate, ex.CreatedBy)
		x.by("LAST_MODIFIED", ex.ModifiedDate, ex.ModifiedBy)
		x.cdata("COMMENTS", ex.Comments)
		x.close("EXCEPTION")
	}
	if q.evidence {
		x.open("EVIDENCE")
		x.cdata("BOOLEAN_EXPR", ":dp_1 == "+fvLabel(r.ControlID))
		x.open("DPV_LIST")
		x.openAttr("DPV", "lastUpdated", compliance.FormatDate(r.LastEvaluatedDate))
		x.text("LABEL", ":dp_1")
		for _, v := range g.current {
			x.cdata("V", v)
		}
		x.close("DPV")
		x.close("DPV_LIST")
		if q.extended {
			x.cdata("EXTENDED_EVIDENCE", "Evaluated from "+strconv.Itoa(len(g.current))+" configuration lines")
		}
		x.close("EVIDENCE")
	}
	if q.causeOfFailure && len(g.missing) > 0 {
		x.open("CAUSE_OF_FAILURE")
		x.openAttr("MISSING", "logic", "any")
		for _, v := range g.missing {
			x.cdata("V", v)
		}
		x.close("MISSING")
		x.open("UNEXPECTED")
		for _, v := range g.unexpected {
			x.cdata("V", v)
		}
		x.close("UNEXPECTED")
		x.close("CAUSE_OF_FAILURE")
	}
	if q.remediation {
		x.cdata("REMEDIATION", q.est.controlDetail(r.ControlID).Remediation)
	}
	x.close("INFO")
}

func fvLabel(controlID int64) string { return "#fv_" + strconv.FormatInt(controlID, 10) }

// writeGlossary writes the lookup lists the page's records refer to.
func (s *Server) writeGlossary(x *xw, q *classicPostureQuery, gl *glossary) {
	x.open("GLOSSARY")
	x.open("USER_LIST")
	for _, u := range policyOwners {
		x.open("USER")
		x.cdata("USER_LOGIN", u)
		x.close("USER")
	}
	x.close("USER_LIST")
	x.open("HOST_LIST")
	for _, id := range sortedKeys(gl.hosts) {
		h := gl.hosts[id].host
		x.open("HOST")
		x.int("ID", h.ID)
		x.text("IP", h.IP)
		x.text("TRACKING_METHOD", h.TrackingMethod)
		if h.DNS != "" {
			x.cdata("DNS", h.DNS)
		}
		x.cdata("OS", h.OS)
		x.cdata("OS_CPE", h.OSCPE)
		x.text("QG_HOSTID", h.QGHostID)
		x.int("NETWORK_ID", h.NetworkID)
		x.cdata("NETWORK_NAME", h.NetworkName)
		x.date("LAST_SCAN_DATE", h.ComplianceLastScanDate)
		x.int("ASSET_ID", h.AssetID)
		x.text("CUSTOMER_UUID", h.CustomerUUID)
		x.int("CUSTOMER_ID", h.CustomerID)
		x.close("HOST")
	}
	x.close("HOST_LIST")
	x.open("CONTROL_LIST")
	for _, id := range sortedKeys(gl.controls) {
		c := q.est.controlDetail(id)
		x.open("CONTROL")
		x.int("ID", id)
		x.cdata("STATEMENT", c.Statement)
		x.open("CRITICALITY")
		x.text("LABEL", c.Criticality.Label)
		x.int("VALUE", c.Criticality.Value)
		x.close("CRITICALITY")
		x.open("RATIONALE_LIST")
		for _, t := range c.Technologies {
			x.open("RATIONALE")
			x.int("TECHNOLOGY_ID", t.TechnologyID)
			x.cdata("TEXT", t.Rationale)
			x.close("RATIONALE")
		}
		x.close("RATIONALE_LIST")
		x.close("CONTROL")
	}
	x.close("CONTROL_LIST")
	x.open("TECHNOLOGY_LIST")
	for _, id := range sortedKeys(gl.techs) {
		x.open("TECHNOLOGY")
		x.int("ID", id)
		x.cdata("NAME", gl.techs[id])
		x.close("TECHNOLOGY")
	}
	x.close("TECHNOLOGY_LIST")
	if q.evidence {
		x.open("FV_LIST")
		for _, id := range sortedKeys(gl.controls) {
			x.open("FV")
			x.text("LABEL", fvLabel(id))
			for _, v := range controlTopics[q.est.control(id).topic].expected {
				x.cdata("V", v)
			}
			x.close("FV")
		}
		x.close("FV_LIST")
	}
	x.close("GLOSSARY")
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

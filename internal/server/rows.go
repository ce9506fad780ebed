package server

import (
	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// The API's records, one function each: the same fields in JSON pages,
// NDJSON and CSV (nested objects as parent.member columns).

func figureFields(r export.Row, f store.Figures) export.Row {
	return append(r, export.Int("passed", f.Passed), export.Int("failed", f.Failed), export.Int("error", f.Errors),
		export.Float("compliance_pct", f.CompliancePct()))
}

func criticalityFields(r export.Row, c compliance.Criticality) export.Row {
	return append(r, export.Object("criticality", 2), export.Str("label", c.Label), export.Int("value", c.Value))
}

func policyRow(r export.Row, p *store.PolicyFigures) export.Row {
	r = append(r, export.Int("id", p.ID), export.Str("title", p.Title), export.Str("status", p.Status), export.Int("hosts", p.Hosts))
	return figureFields(r, p.Figures)
}

func sectionRow(r export.Row, s *store.SectionFigures) export.Row {
	r = append(r, export.Int("number", s.Number), export.Str("heading", s.Heading), export.Int("controls", s.Controls))
	return figureFields(r, s.Figures)
}

func technologyRow(r export.Row, t *store.TechnologyFigures) export.Row {
	r = append(r, export.Int("id", t.ID), export.Str("name", t.Name))
	return figureFields(r, t.Figures)
}

func criticalityRow(r export.Row, c *store.CriticalityFigures) export.Row {
	r = append(r, export.Int("value", c.Value), export.Str("label", c.Label))
	return figureFields(r, c.Figures)
}

func frameworkRow(r export.Row, f *store.FrameworkFigures) export.Row {
	r = append(r, export.Int("id", f.ID), export.Str("name", f.Name), export.Int("controls", f.Controls))
	return figureFields(r, f.Figures)
}

func controlRow(r export.Row, c *store.ControlFigures) export.Row {
	r = append(r, export.Int("control_id", c.ControlID), export.Str("statement", c.Statement))
	r = criticalityFields(r, c.Criticality)
	if c.SectionNumber == 0 {
		r = append(r, export.Null("section"))
	} else {
		r = append(r, export.Int("section", c.SectionNumber))
	}
	return figureFields(r, c.Figures)
}

func postureRow(r export.Row, p *store.PostureView) export.Row {
	r = append(r, export.Int("id", p.ID), export.Int("policy_id", p.PolicyID), export.Int("host_id", p.Host.ID),
		export.Int("control_id", p.ControlID), export.Object("technology", 2), export.Int("id", p.Technology.ID),
		export.Str("name", p.Technology.Name), export.Str("instance", p.Instance), export.Str("status", string(p.Status)),
		export.Date("first_fail_date", p.FirstFailDate), export.Date("last_fail_date", p.LastFailDate),
		export.Date("first_pass_date", p.FirstPassDate), export.Date("last_pass_date", p.LastPassDate),
		export.Date("posture_modified_date", p.PostureModifiedDate), export.Date("last_evaluated_date", p.LastEvaluatedDate),
		export.Date("created", p.Created), export.Raw("evidence", p.Evidence), export.Raw("cause_of_failure", p.CauseOfFailure))
	return exceptionFields(r, p.Exception)
}

func exceptionFields(r export.Row, e *compliance.Exception) export.Row {
	if e == nil {
		e = &compliance.Exception{}
		r = append(r, export.NullObject("exception", 8))
	} else {
		r = append(r, export.Object("exception", 8))
	}
	return append(r, export.Str("assignee", e.Assignee), export.Str("status", e.Status), export.Str("comments", e.Comments),
		export.Str("created_by", e.CreatedBy), export.Date("created_date", e.CreatedDate), export.Str("modified_by", e.ModifiedBy),
		export.Date("modified_date", e.ModifiedDate), export.Date("end_date", e.EndDate))
}

func hostRow(r export.Row, h *store.HostFigures) export.Row {
	r = append(r, export.Int("id", h.ID), export.Str("ip", h.IP), export.Str("dns", h.DNS), export.Str("os", h.OS))
	r = figureFields(r, h.Figures)
	return append(r, export.Date("compliance_last_scan_date", h.ComplianceLastScanDate))
}

// hostDetailRow is a host with every attribute pcsync keeps.
func hostDetailRow(r export.Row, h *store.HostFigures) export.Row {
	r = hostRow(r, h)
	return append(r, export.Str("os_cpe", h.OSCPE), export.Str("tracking_method", h.TrackingMethod),
		export.Int("network_id", h.NetworkID), export.Str("network_name", h.NetworkName), export.Str("qg_host_id", h.QGHostID),
		export.Int("asset_id", h.AssetID))
}

func changeRow(r export.Row, c *compliance.StatusChange) export.Row {
	return append(r, export.Int("posture_id", c.PostureID), export.Int("policy_id", c.PolicyID), export.Int("host_id", c.HostID),
		export.Int("control_id", c.ControlID), export.Str("old_status", string(c.OldStatus)),
		export.Str("new_status", string(c.NewStatus)), export.Date("changed_at", c.ChangedAt))
}

func runRow(r export.Row, x *compliance.Run) export.Row {
	return append(r, export.Int("id", x.ID), export.Date("started_at", x.StartedAt), export.Date("finished_at", x.FinishedAt),
		export.Str("status", string(x.Status)), export.Str("mode", x.Mode), export.Date("since", x.Since),
		export.Str("source", x.Source), export.Str("message", x.Message), export.Int("policies", x.Policies),
		export.Int("batches", x.Batches), export.Int("records", x.Records), export.Int("passed", x.Passed),
		export.Int("failed", x.Failed), export.Int("error", x.Errors), export.Int("rejects", x.Rejects),
		export.Int("throttles", x.Throttles), export.Int("retries", x.Retries), export.Int("resumed", x.Resumed),
		export.Int("wire_bytes", x.WireBytes), export.Int("data_bytes", x.DataBytes))
}

// runPolicyRow is what one run did for one policy, with its completeness:
// the share of the hosts asked for that returned posture; null for an
// incremental run, where a host with no change returns nothing.
func runPolicyRow(r export.Row, p *compliance.PolicySummary, full bool) export.Row {
	var complete *float64
	if full && p.HostsRequested > 0 {
		v := float64(p.HostsReturned) / float64(p.HostsRequested) * 100
		v = float64(int64(v*100+0.5)) / 100
		complete = &v
	}
	return append(r, export.Int("policy_id", p.PolicyID), export.Str("title", p.Title),
		export.Int("hosts_requested", p.HostsRequested), export.Int("hosts_returned", p.HostsReturned),
		export.Float("completeness_pct", complete), export.Int("records", p.Records), export.Int("passed", p.Passed),
		export.Int("failed", p.Failed), export.Int("error", p.Errors), export.Int("rejects", p.Rejects),
		export.Int("failed_batches", p.FailedBatches), export.Int("stale_hosts", p.StaleHosts),
		export.Int("stale_postures", p.StalePostures), export.Str("problem", p.Error))
}

func trendRow(r export.Row, t *store.TrendPoint) export.Row {
	r = append(r, export.Int("run_id", t.Run.ID), export.Date("finished_at", t.Run.FinishedAt), export.Str("status", string(t.Run.Status)))
	return figureFields(r, t.Figures)
}

func exceptionRow(r export.Row, e *store.ExceptionView) export.Row {
	return append(r, export.Int("posture_id", e.PostureID), export.Int("policy_id", e.PolicyID), export.Int("host_id", e.HostID),
		export.Int("control_id", e.ControlID), export.Str("posture_status", string(e.Status)), export.Str("assignee", e.Assignee),
		export.Str("status", e.Exception.Status), export.Str("comments", e.Comments), export.Str("created_by", e.CreatedBy),
		export.Date("created_date", e.CreatedDate), export.Str("modified_by", e.ModifiedBy),
		export.Date("modified_date", e.ModifiedDate), export.Date("end_date", e.EndDate))
}

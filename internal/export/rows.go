package export

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/jsonenc"
	"pcsync/internal/store"
)

type kind uint8

const (
	kString kind = iota
	kInt
	kDate // zero is null
	kBool
	kRaw    // JSON text as stored; nil is null
	kObject // the next n fields are its members
	kSplice // a JSON object whose members join the enclosing object
	kNull   // null in JSON, empty in CSV
	kFloat
)

// field is one value of a row. An object field is followed by its members.
type field struct {
	name string
	kind kind
	s    string
	n    int64
	t    time.Time
	b    bool
	f    float64
	raw  []byte
}

type row []field

func str(name, v string) field       { return field{name: name, kind: kString, s: v} }
func num(name string, v int64) field { return field{name: name, kind: kInt, n: v} }
func date(name string, v time.Time) field {
	return field{name: name, kind: kDate, t: v}
}
func boolean(name string, v bool) field  { return field{name: name, kind: kBool, b: v} }
func raw(name string, v []byte) field    { return field{name: name, kind: kRaw, raw: v} }
func object(name string, n int) field    { return field{name: name, kind: kObject, n: int64(n)} }
func splice(name string, v []byte) field { return field{name: name, kind: kSplice, raw: v} }

// columnRow lays out a registry table's row column by column; vals nil
// gives the header's sample.
func columnRow(r row, t *store.Table, vals []any) row {
	for i, c := range t.Columns {
		var v any
		if vals != nil {
			v = vals[i]
		}
		name := c.Field()
		switch x := v.(type) {
		case nil:
			r = append(r, field{name: name, kind: kNull})
		case int64:
			r = append(r, num(name, x))
		case string:
			r = append(r, str(name, x))
		case time.Time:
			r = append(r, date(name, x))
		case bool:
			r = append(r, boolean(name, x))
		case []byte:
			r = append(r, raw(name, x))
		default:
			r = append(r, str(name, fmt.Sprint(x)))
		}
	}
	return r
}

// postureRow lays a posture out in the order of the PCRS output table.
func postureRow(r row, p *compliance.Posture) row {
	h := &p.Host
	return append(r,
		num("id", p.ID), str("instance", p.Instance), num("policyId", p.PolicyID),
		num("controlId", p.ControlID), num("technologyId", p.TechnologyID),
		str("status", string(p.Status)), str("previousStatus", string(p.PreviousStatus)),
		date("firstFailDate", p.FirstFailDate), date("lastFailDate", p.LastFailDate),
		date("firstPassDate", p.FirstPassDate), date("lastPassDate", p.LastPassDate),
		date("postureModifiedDate", p.PostureModifiedDate), date("lastEvaluatedDate", p.LastEvaluatedDate),
		date("created", p.Created), num("hostId", h.ID), str("ip", h.IP),
		str("trackingMethod", h.TrackingMethod), str("os", h.OS), str("osCpe", h.OSCPE), str("dns", h.DNS),
		str("qgHostid", h.QGHostID), num("networkId", h.NetworkID), str("networkName", h.NetworkName),
		date("complianceLastScanDate", h.ComplianceLastScanDate), str("customerUuid", h.CustomerUUID),
		num("customerId", h.CustomerID), num("assetId", h.AssetID),
		object("technology", 2), num("id", p.Technology.ID), str("name", p.Technology.Name),
		object("criticality", 2), str("label", p.Criticality.Label), num("value", p.Criticality.Value),
		raw("evidence", p.Evidence), raw("causeOfFailure", p.CauseOfFailure), splice("extra", p.Extra),
	)
}

func policyRow(r row, p *compliance.Policy) row {
	return append(r, num("id", p.ID), str("title", p.Title), str("createdBy", p.CreatedBy),
		date("createdDate", p.CreatedDate), str("modifiedBy", p.ModifiedBy), date("modifiedDate", p.ModifiedDate),
		date("lastEvaluatedDate", p.LastEvaluatedDate), str("status", p.Status), boolean("locked", p.Locked))
}

func hostRow(r row, h *compliance.Host) row {
	return append(r, num("id", h.ID), str("ip", h.IP), str("trackingMethod", h.TrackingMethod), str("os", h.OS),
		str("osCpe", h.OSCPE), str("dns", h.DNS), str("qgHostid", h.QGHostID), num("networkId", h.NetworkID),
		str("networkName", h.NetworkName), date("complianceLastScanDate", h.ComplianceLastScanDate),
		str("customerUuid", h.CustomerUUID), num("customerId", h.CustomerID), num("assetId", h.AssetID))
}

func controlRow(r row, c *compliance.Control) row {
	return append(r, num("id", c.ID), str("category", c.Category), str("subCategory", c.SubCategory),
		str("statement", c.Statement), object("criticality", 2), str("label", c.Criticality.Label),
		num("value", c.Criticality.Value), str("checkType", c.CheckType), str("comment", c.Comment),
		boolean("active", c.Active), boolean("userDefined", c.UserDefined), date("created", c.Created),
		date("updated", c.Updated), str("remediation", c.Remediation),
		raw("technologies", controlTechnologiesJSON(c.Technologies)), raw("frameworks", frameworkRefsJSON(c.Frameworks)))
}

// controlTechnologiesJSON is a control's technologies as a JSON array; only
// the members that are set are written.
func controlTechnologiesJSON(ts []compliance.ControlTechnology) []byte {
	b := []byte{'['}
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, t.TechnologyID, 10)
		for _, kv := range [][2]string{{"name", t.Name}, {"rationale", t.Rationale}, {"evaluate", t.Evaluate},
			{"remediation", t.Remediation}, {"description", t.Description}} {
			if kv[1] != "" {
				b = append(jsonenc.AppendString(append(b, ','), kv[0]), ':')
				b = jsonenc.AppendString(b, kv[1])
			}
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

func frameworkRefsJSON(fs []compliance.FrameworkReference) []byte {
	b := []byte{'['}
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, f.FrameworkID, 10)
		b = jsonenc.AppendString(append(b, `,"name":`...), f.FrameworkName)
		b = jsonenc.AppendString(append(b, `,"reference":`...), f.Reference)
		if f.Comments != "" {
			b = jsonenc.AppendString(append(b, `,"comments":`...), f.Comments)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// sectionRow is one policy section with its controls (id, criticality,
// reference, and per technology what the policy expects) as a JSON array.
func sectionRow(r row, policyID int64, s *compliance.Section) row {
	b := []byte{'['}
	for i, c := range s.Controls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, c.ControlID, 10)
		b = append(b, `,"criticality":{"label":`...)
		b = jsonenc.AppendString(b, c.Criticality.Label)
		b = append(b, `,"value":`...)
		b = strconv.AppendInt(b, c.Criticality.Value, 10)
		b = jsonenc.AppendString(append(b, `},"referenceText":`...), c.ReferenceText)
		b = strconv.AppendBool(append(b, `,"disabled":`...), c.Disabled)
		b = strconv.AppendBool(append(b, `,"userDefined":`...), c.UserDefined)
		if c.Statement != "" {
			b = jsonenc.AppendString(append(b, `,"statement":`...), c.Statement)
		}
		b = append(append(b, `,"technologies":`...), controlTechnologiesJSON(c.Technologies)...)
		b = append(b, '}')
	}
	b = append(b, ']')
	return append(r, num("policyId", policyID), num("number", s.Number), str("heading", s.Heading), raw("controls", b))
}

func frameworkRow(r row, f *compliance.Framework) row {
	return append(r, num("id", f.ID), str("name", f.Name))
}

func exceptionRow(r row, postureID int64, e *compliance.Exception) row {
	return append(r, num("postureId", postureID), str("assignee", e.Assignee), str("status", e.Status),
		str("comments", e.Comments), str("createdBy", e.CreatedBy), date("createdDate", e.CreatedDate),
		str("modifiedBy", e.ModifiedBy), date("modifiedDate", e.ModifiedDate), date("endDate", e.EndDate))
}

func technologyRow(r row, t *compliance.Technology) row {
	return append(r, num("id", t.ID), str("name", t.Name))
}

func runRow(r row, x *compliance.Run) row {
	return append(r, num("id", x.ID), date("startedAt", x.StartedAt), date("finishedAt", x.FinishedAt),
		str("status", string(x.Status)), str("source", x.Source), raw("params", []byte(x.Params)),
		str("message", x.Message), num("policies", x.Policies), num("batches", x.Batches),
		num("records", x.Records), num("passed", x.Passed), num("failed", x.Failed), num("errors", x.Errors),
		num("rejects", x.Rejects), num("wireBytes", x.WireBytes), num("dataBytes", x.DataBytes),
		str("mode", x.Mode), date("since", x.Since), num("resumed", x.Resumed), num("throttles", x.Throttles),
		num("retries", x.Retries), str("shard", x.Shard), raw("problems", problemsJSON(x.Problems)))
}

// problemsJSON is a run's problems as a JSON array of strings ([] for none).
func problemsJSON(ps []string) []byte {
	if len(ps) == 0 {
		return []byte("[]")
	}
	b, _ := json.Marshal(ps)
	return b
}

func historyRow(r row, c *compliance.StatusChange) row {
	return append(r, num("postureId", c.PostureID), num("policyId", c.PolicyID), num("hostId", c.HostID),
		num("controlId", c.ControlID), str("oldStatus", string(c.OldStatus)), str("newStatus", string(c.NewStatus)),
		date("changedAt", c.ChangedAt), num("runId", c.RunID))
}

func changeRow(r row, c *compliance.Change) row {
	return append(r, str("kind", c.Kind), num("postureId", c.PostureID), num("policyId", c.PolicyID),
		num("hostId", c.HostID), num("controlId", c.ControlID), str("oldStatus", string(c.OldStatus)),
		str("newStatus", string(c.NewStatus)), date("changedAt", c.ChangedAt), num("runId", c.RunID))
}

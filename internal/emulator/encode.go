package emulator

import (
	"strconv"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/jsonenc"
)

// Style picks how the emulator writes the corners the documentation leaves
// open, so that clients can be tested against each of them.
type Style struct {
	// IDs is "number" (the default), "string" or "mixed" (a per-record choice).
	IDs string
	// Empty is how an unset date or status is written: "empty" ("", the
	// default), "null", "omit" (key left out) or "mixed".
	Empty string
	// Variants writes records as some platforms and clients report them:
	// the fields of newer API versions whatever the version asked
	// (policyTitle, controlStatement, netBios, rationale, remediation),
	// customerId as a string, and stream metadata (currentBatch,
	// totalBatches) inside each record.
	Variants bool
}

func (s Style) valid() bool {
	switch s.IDs {
	case "", "number", "string", "mixed":
	default:
		return false
	}
	switch s.Empty {
	case "", "empty", "null", "omit", "mixed":
	default:
		return false
	}
	return true
}

// recordStyle resolves a "mixed" style for one record.
func (s Style) forRecord(id int64) (stringIDs bool, empty string) {
	h := mix(uint64(id) ^ 0x5717E)
	stringIDs = s.IDs == "string" || (s.IDs == "mixed" && h&1 == 1)
	empty = s.Empty
	switch empty {
	case "", "empty":
		empty = "empty"
	case "mixed":
		empty = [...]string{"empty", "null", "omit"}[(h>>1)%3]
	}
	return stringIDs, empty
}

// appendPosture writes one record as the PCRS stream does: compact, starting
// with "id", nested technology and criticality, evidence and causeOfFailure
// as raw JSON, then any extra fields.
func appendPosture(b []byte, r *compliance.Posture, st Style) []byte {
	sid, empty := st.forRecord(r.ID)
	id := func(b []byte, key string, v int64) []byte {
		b = append(b, key...)
		if sid {
			b = append(b, '"')
			b = strconv.AppendInt(b, v, 10)
			return append(b, '"')
		}
		return strconv.AppendInt(b, v, 10)
	}
	opt := func(b []byte, key, v string) []byte {
		if v == "" {
			switch empty {
			case "omit":
				return b
			case "null":
				return append(append(b, key...), "null"...)
			}
		}
		return jsonenc.AppendString(append(b, key...), v)
	}
	date := func(b []byte, key string, t time.Time) []byte {
		if t.IsZero() {
			return opt(b, key, "")
		}
		b = append(b, key...)
		b = append(b, '"')
		b = compliance.AppendDate(b, t)
		return append(b, '"')
	}
	b = id(b, `{"id":`, r.ID)
	b = jsonenc.AppendString(append(b, `,"instance":`...), r.Instance)
	b = id(b, `,"policyId":`, r.PolicyID)
	b = id(b, `,"controlId":`, r.ControlID)
	b = id(b, `,"technologyId":`, r.TechnologyID)
	b = jsonenc.AppendString(append(b, `,"status":`...), string(r.Status))
	b = opt(b, `,"previousStatus":`, string(r.PreviousStatus))
	b = date(b, `,"firstFailDate":`, r.FirstFailDate)
	b = date(b, `,"lastFailDate":`, r.LastFailDate)
	b = date(b, `,"firstPassDate":`, r.FirstPassDate)
	b = date(b, `,"lastPassDate":`, r.LastPassDate)
	b = date(b, `,"postureModifiedDate":`, r.PostureModifiedDate)
	b = date(b, `,"lastEvaluatedDate":`, r.LastEvaluatedDate)
	b = date(b, `,"created":`, r.Created)
	h := &r.Host
	b = id(b, `,"hostId":`, h.ID)
	b = jsonenc.AppendString(append(b, `,"ip":`...), h.IP)
	b = jsonenc.AppendString(append(b, `,"trackingMethod":`...), h.TrackingMethod)
	b = jsonenc.AppendString(append(b, `,"os":`...), h.OS)
	b = jsonenc.AppendString(append(b, `,"osCpe":`...), h.OSCPE)
	b = opt(b, `,"dns":`, h.DNS)
	b = jsonenc.AppendString(append(b, `,"qgHostid":`...), h.QGHostID)
	b = id(b, `,"networkId":`, h.NetworkID)
	b = jsonenc.AppendString(append(b, `,"networkName":`...), h.NetworkName)
	b = date(b, `,"complianceLastScanDate":`, h.ComplianceLastScanDate)
	b = jsonenc.AppendString(append(b, `,"customerUuid":`...), h.CustomerUUID)
	if st.Variants {
		b = strconv.AppendInt(append(b, `,"customerId":"`...), h.CustomerID, 10)
		b = append(b, '"')
	} else {
		b = id(b, `,"customerId":`, h.CustomerID)
	}
	b = id(b, `,"assetId":`, h.AssetID)
	b = id(b, `,"technology":{"id":`, r.Technology.ID)
	b = jsonenc.AppendString(append(b, `,"name":`...), r.Technology.Name)
	b = jsonenc.AppendString(append(b, `},"criticality":{"label":`...), r.Criticality.Label)
	b = strconv.AppendInt(append(b, `,"value":`...), r.Criticality.Value, 10)
	b = append(b, '}')
	if r.Evidence != nil {
		b = append(append(b, `,"evidence":`...), r.Evidence...)
	}
	if r.CauseOfFailure != nil {
		b = append(append(b, `,"causeOfFailure":`...), r.CauseOfFailure...)
	}
	if len(r.Extra) > 2 { // an object with members: splice them in
		b = append(append(b, ','), r.Extra[1:len(r.Extra)-1]...)
	}
	if st.Variants {
		b = appendVariants(b, r)
	}
	return append(b, '}')
}

// appendVariants adds the v5 text fields and the stream metadata some
// clients find inside records.
func appendVariants(b []byte, r *compliance.Posture) []byte {
	ctl := strconv.FormatInt(r.ControlID, 10)
	b = jsonenc.AppendString(append(b, `,"rationale":`...), "Control "+ctl+" limits the exposure of "+r.Technology.Name+".")
	b = jsonenc.AppendString(append(b, `,"remediation":`...), "Apply the setting control "+ctl+" expects, then rescan.")
	return append(b, `,"currentBatch":1,"totalBatches":1`...)
}

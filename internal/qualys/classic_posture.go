package qualys

import (
	"context"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"

	"pcsync/internal/compliance"
	"pcsync/internal/jsonenc"
)

type xInfo struct {
	ID             string `xml:"ID"`
	HostID         string `xml:"HOST_ID"`
	ControlID      string `xml:"CONTROL_ID"`
	TechnologyID   string `xml:"TECHNOLOGY_ID"`
	Instance       string `xml:"INSTANCE"`
	Status         string `xml:"STATUS"`
	PreviousStatus string `xml:"PREVIOUS_STATUS"`
	Modified       string `xml:"POSTURE_MODIFIED_DATE"`
	FirstFail      string `xml:"FIRST_FAIL_DATE"`
	LastFail       string `xml:"LAST_FAIL_DATE"`
	FirstPass      string `xml:"FIRST_PASS_DATE"`
	LastPass       string `xml:"LAST_PASS_DATE"`
	Evaluated      string `xml:"EVALUATION_DATE"`
	Created        string `xml:"CREATED_DATE"`
	Exception      *struct {
		Assignee string `xml:"ASSIGNEE"`
		Status   string `xml:"STATUS"`
		End      string `xml:"END_DATETIME"`
		Created  xBy    `xml:"CREATED"`
		Modified xBy    `xml:"LAST_MODIFIED"`
		Comments string `xml:"COMMENTS"`
	} `xml:"EXCEPTION"`
	Evidence *struct {
		BooleanExpr string `xml:"BOOLEAN_EXPR"`
		DPVs        []struct {
			Label string   `xml:"LABEL"`
			V     []string `xml:"V"`
		} `xml:"DPV_LIST>DPV"`
		Extended string `xml:"EXTENDED_EVIDENCE"`
	} `xml:"EVIDENCE"`
	Cause *struct {
		Missing    []string `xml:"MISSING>V"`
		Unexpected []string `xml:"UNEXPECTED>V"`
	} `xml:"CAUSE_OF_FAILURE"`
	Remediation string `xml:"REMEDIATION"`
}

type xHost struct {
	ID             string `xml:"ID"`
	IP             string `xml:"IP"`
	TrackingMethod string `xml:"TRACKING_METHOD"`
	DNS            string `xml:"DNS"`
	NetBIOS        string `xml:"NETBIOS"`
	OS             string `xml:"OS"`
	OSCPE          string `xml:"OS_CPE"`
	QGHostID       string `xml:"QG_HOSTID"`
	NetworkID      string `xml:"NETWORK_ID"`
	NetworkName    string `xml:"NETWORK_NAME"`
	LastScan       string `xml:"LAST_SCAN_DATE"`
	AssetID        string `xml:"ASSET_ID"`
	CustomerUUID   string `xml:"CUSTOMER_UUID"`
	CustomerID     string `xml:"CUSTOMER_ID"`
}

type xGlossaryControl struct {
	ID        string       `xml:"ID"`
	Statement string       `xml:"STATEMENT"`
	Crit      xCriticality `xml:"CRITICALITY"`
}

type xLookup struct {
	Label string   `xml:"LABEL"`
	V     []string `xml:"V"`
	ID    string   `xml:"ID"`
	Name  string   `xml:"NAME"`
}

// PostureInfoPage is one page of classic posture, resolved.
type PostureInfoPage struct {
	Records []compliance.Posture
	Rejects []*RecordError
	// Next is the id_min of the following page, 0 after the last.
	Next int64
	// Bytes is the size of the page's XML answer.
	Bytes int64
}

// PostureInfo is "PC Results": /api/{v}/fo/compliance/posture/info/?action=list
// for one policy with params (details, show_extended_evidence,
// cause_of_failure, show_remediation_info, hide_evidence,
// status_changes_since, truncation_limit, ...), from idMin on (0: the
// start). Each page's GLOSSARY is resolved into posture records of the same
// shape PCRS gives, so fn gets a page only once it has arrived whole; a page
// cut off mid-way is fetched again.
func (s *ClassicService) PostureInfo(ctx context.Context, policyID, idMin int64, params Params, fn func(*PostureInfoPage) error) error {
	if params.Get("show_extended_evidence") == "1" && params.Get("hide_evidence") == "1" {
		return fmt.Errorf("posture info: show_extended_evidence=1 cannot be combined with hide_evidence=1 " +
			"(extended evidence is part of the evidence); change one of them in the config")
	}
	if params.Get("truncation_limit") == "0" {
		return fmt.Errorf("posture info: truncation_limit=0 would hold a whole policy's posture in memory; set a page size (1000 is the default)")
	}
	p := withAction(params, "list")
	p.Set("policy_id", strconv.FormatInt(policyID, 10))
	for page := 1; ; page++ {
		if idMin > 0 {
			p.Set("id_min", strconv.FormatInt(idMin, 10))
		}
		var res *PostureInfoPage
		err := s.retryPage(ctx, func() (err error) {
			res, err = s.posturePage(ctx, policyID, p)
			return err
		})
		if err != nil {
			return fmt.Errorf("posture info of policy %d, page %d: %w", policyID, page, err)
		}
		if err := fn(res); err != nil {
			return err
		}
		if res.Next == 0 {
			return nil
		}
		if res.Next <= idMin {
			return fmt.Errorf("posture info of policy %d: paging did not advance (id_min %d after %d)", policyID, res.Next, idMin)
		}
		idMin = res.Next
	}
}

// pageReader gathers one posture/info answer: its records, then the
// glossary they refer to.
type pageReader struct {
	infos    []xInfo
	hosts    map[int64]xHost
	controls map[int64]xGlossaryControl
	techs    map[int64]xLookup
	fvs      map[string][]string
	next     int64
}

func (s *ClassicService) posturePage(ctx context.Context, policyID int64, p Params) (*PostureInfoPage, error) {
	pr := newPageReader()
	size, err := s.eachCounted(ctx, "posture/info", p, pr.visit)
	if err != nil {
		return nil, err
	}
	return pr.page(policyID, size), nil
}

func newPageReader() *pageReader {
	return &pageReader{hosts: map[int64]xHost{}, controls: map[int64]xGlossaryControl{}, techs: map[int64]xLookup{}, fvs: map[string][]string{}}
}

// visit gathers the records and the glossary of a posture/info answer.
func (pr *pageReader) visit(st *xmlStream, start xml.StartElement) error {
	switch {
	case st.at("INFO_LIST", "INFO"):
		var x xInfo
		if err := st.decode(&x, start); err != nil {
			return err
		}
		pr.infos = append(pr.infos, x)
	case st.at("GLOSSARY", "HOST_LIST", "HOST"):
		return decodeByID(st, start, "HOST/ID", func(h *xHost) string { return h.ID }, pr.hosts)
	case st.at("GLOSSARY", "CONTROL_LIST", "CONTROL"):
		return decodeByID(st, start, "CONTROL/ID", func(c *xGlossaryControl) string { return c.ID }, pr.controls)
	case st.at("GLOSSARY", "TECHNOLOGY_LIST", "TECHNOLOGY"):
		return decodeByID(st, start, "TECHNOLOGY/ID", func(t *xLookup) string { return t.ID }, pr.techs)
	case st.at("GLOSSARY", "FV_LIST", "FV"), st.at("GLOSSARY", "TP_LIST", "TP"):
		var l xLookup
		if err := st.decode(&l, start); err != nil {
			return err
		}
		pr.fvs[xmlText(l.Label)] = l.V
	case st.at("RESPONSE", "WARNING"):
		n, err := st.nextIDMin(start)
		if err != nil {
			return err
		}
		pr.next = n
	}
	return nil
}

// decodeByID decodes the glossary entry start opens into m, under its id.
func decodeByID[T any](st *xmlStream, start xml.StartElement, field string, id func(*T) string, m map[int64]T) error {
	var v T
	if err := st.decode(&v, start); err != nil {
		return err
	}
	n, err := xmlInt(field, id(&v))
	if err != nil {
		return err
	}
	m[n] = v
	return nil
}

// page resolves the gathered records against the glossary.
func (pr *pageReader) page(policyID, size int64) *PostureInfoPage {
	res := &PostureInfoPage{Next: pr.next, Bytes: size}
	for i := range pr.infos {
		rec, err := pr.resolve(policyID, &pr.infos[i])
		if err != nil {
			res.Rejects = append(res.Rejects, &RecordError{Index: i + 1, Err: err, Raw: []byte(fmt.Sprintf("%+v", pr.infos[i]))})
			continue
		}
		res.Records = append(res.Records, rec)
	}
	return res
}

var fvRef = regexp.MustCompile(`[#$](fv|tp)_[A-Za-z0-9_]+`)

// resolve maps one INFO and the glossary onto the PCRS record shape.
func (pr *pageReader) resolve(policyID int64, x *xInfo) (compliance.Posture, error) {
	var f fieldErrs
	r := compliance.Posture{
		ID: f.int("ID", x.ID), PolicyID: policyID, ControlID: f.int("CONTROL_ID", x.ControlID),
		TechnologyID: f.int("TECHNOLOGY_ID", x.TechnologyID), Instance: xmlText(x.Instance),
		Status: compliance.Status(xmlText(x.Status)), PreviousStatus: compliance.Status(xmlText(x.PreviousStatus)),
		PostureModifiedDate: f.date("POSTURE_MODIFIED_DATE", x.Modified), FirstFailDate: f.date("FIRST_FAIL_DATE", x.FirstFail),
		LastFailDate: f.date("LAST_FAIL_DATE", x.LastFail), FirstPassDate: f.date("FIRST_PASS_DATE", x.FirstPass),
		LastPassDate: f.date("LAST_PASS_DATE", x.LastPass), LastEvaluatedDate: f.date("EVALUATION_DATE", x.Evaluated),
		Created: f.date("CREATED_DATE", x.Created), Remediation: xmlText(x.Remediation),
	}
	r.Host.ID = f.int("HOST_ID", x.HostID)
	if h, ok := pr.hosts[r.Host.ID]; ok {
		r.Host = compliance.Host{ID: r.Host.ID, IP: xmlText(h.IP), TrackingMethod: xmlText(h.TrackingMethod),
			OS: xmlText(h.OS), OSCPE: xmlText(h.OSCPE), DNS: xmlText(h.DNS), QGHostID: xmlText(h.QGHostID),
			NetworkID: f.int("HOST/NETWORK_ID", h.NetworkID), NetworkName: xmlText(h.NetworkName),
			ComplianceLastScanDate: f.date("HOST/LAST_SCAN_DATE", h.LastScan), CustomerUUID: xmlText(h.CustomerUUID),
			CustomerID: f.int("HOST/CUSTOMER_ID", h.CustomerID), AssetID: f.int("HOST/ASSET_ID", h.AssetID)}
		if nb := xmlText(h.NetBIOS); nb != "" {
			r.Extra = jsonenc.AppendString([]byte(`{"netBios":`), nb)
			r.Extra = append(r.Extra, '}')
		}
	}
	r.Technology = compliance.Technology{ID: r.TechnologyID, Name: xmlText(pr.techs[r.TechnologyID].Name)}
	if c, ok := pr.controls[r.ControlID]; ok {
		r.Criticality = c.Crit.to(&f)
	}
	if x.Evidence != nil {
		r.Evidence = pr.evidence(x)
	}
	if x.Cause != nil {
		b := []byte(`{"missing":`)
		b = jsonenc.AppendStrings(b, x.Cause.Missing)
		b = append(b, `,"unexpected":`...)
		b = jsonenc.AppendStrings(b, x.Cause.Unexpected)
		r.CauseOfFailure = append(b, '}')
	}
	if e := x.Exception; e != nil {
		r.Exception = &compliance.Exception{Assignee: xmlText(e.Assignee), Status: xmlText(e.Status),
			Comments: xmlText(e.Comments), CreatedBy: xmlText(e.Created.By), CreatedDate: f.date("EXCEPTION/CREATED", e.Created.DateTime),
			ModifiedBy: xmlText(e.Modified.By), ModifiedDate: f.date("EXCEPTION/LAST_MODIFIED", e.Modified.DateTime),
			EndDate: f.date("EXCEPTION/END_DATETIME", e.End)}
	}
	switch {
	case f.err != nil:
		return r, f.err
	case r.ID == 0:
		return r, fmt.Errorf("the record has no ID")
	case r.Status == "":
		return r, fmt.Errorf("record %d has no STATUS", r.ID)
	}
	return r, nil
}

// evidence builds the PCRS evidence object: expectedValues are the values of
// the fixed values and templates BOOLEAN_EXPR refers to (from the
// GLOSSARY), currentValues those of the data points (DPV).
func (pr *pageReader) evidence(x *xInfo) []byte {
	var expected, current []string
	for _, label := range fvRef.FindAllString(x.Evidence.BooleanExpr, -1) {
		expected = append(expected, pr.fvs[label]...)
	}
	for _, d := range x.Evidence.DPVs {
		current = append(current, d.V...)
	}
	b := []byte(`{"expectedValues":`)
	b = jsonenc.AppendStrings(b, expected)
	b = append(b, `,"currentValues":`...)
	b = jsonenc.AppendStrings(b, current)
	if ext := xmlText(x.Evidence.Extended); ext != "" {
		b = jsonenc.AppendString(append(b, `,"extendedEvidence":`...), ext)
	}
	return append(b, '}')
}

package qualys

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"pcsync/internal/compliance"
)

// ClassicService is the classic Policy Compliance API (XML over HTTP Basic
// auth): https://docs.qualys.com/en/vm/api/ (Policy Compliance chapter).
type ClassicService struct{ c *Client }

// Params are parameters sent as given (the config's per-message sections).
type Params = url.Values

type xCriticality struct {
	Label string `xml:"LABEL"`
	Value string `xml:"VALUE"`
}

func (x xCriticality) to(f *fieldErrs) compliance.Criticality {
	return compliance.Criticality{Label: xmlText(x.Label), Value: f.int("CRITICALITY/VALUE", x.Value)}
}

// xBy is a DATETIME and BY pair (CREATED, LAST_MODIFIED).
type xBy struct {
	DateTime string `xml:"DATETIME"`
	By       string `xml:"BY"`
}

type xPolicy struct {
	ID        string `xml:"ID"`
	Title     string `xml:"TITLE"`
	Created   xBy    `xml:"CREATED"`
	Modified  xBy    `xml:"LAST_MODIFIED"`
	Evaluated struct {
		DateTime string `xml:"DATETIME"`
	} `xml:"LAST_EVALUATED"`
	Status string `xml:"STATUS"`
	Locked string `xml:"IS_LOCKED"`
}

// ListPolicies is "PC Policies": /api/{v}/fo/compliance/policy/?action=list
// with params (the seed's default is details=All). With details=None Qualys
// answers an ID_SET (or, as its documentation says, policies with ID and
// TITLE alone): either gives policies that carry only their id (and title).
func (s *ClassicService) ListPolicies(ctx context.Context, params Params) ([]compliance.Policy, error) {
	var out []compliance.Policy
	if err := s.each(ctx, "policy", withAction(params, "list"), policyListDecoder(&out)); err != nil {
		return nil, fmt.Errorf("policy list: %w", err)
	}
	return out, nil
}

// maxIDRange bounds the ids one ID_RANGE may stand for.
const maxIDRange = 1 << 20

// policyListDecoder appends the policies of a policy list answer to out:
// POLICY elements, or the ID and ID_RANGE elements of an ID_SET.
func policyListDecoder(out *[]compliance.Policy) func(*xmlStream, xml.StartElement) error {
	return func(st *xmlStream, start xml.StartElement) error {
		switch {
		case st.at("POLICY_LIST", "POLICY"):
			var x xPolicy
			if err := st.decode(&x, start); err != nil {
				return err
			}
			pol, err := x.to()
			if err != nil {
				return err
			}
			*out = append(*out, pol)
		case st.at("ID_SET", "ID"), st.at("ID_SET", "ID_RANGE"):
			var text string
			if err := st.decode(&text, start); err != nil {
				return err
			}
			lo, hi, err := idRange(text)
			if err != nil {
				return fmt.Errorf("policy list ID_SET: %w", err)
			}
			for id := lo; id <= hi; id++ {
				*out = append(*out, compliance.Policy{ID: id})
			}
		}
		return nil
	}
}

// idRange reads "7" or "7-12".
func idRange(s string) (lo, hi int64, err error) {
	a, b, isRange := strings.Cut(xmlText(s), "-")
	if lo, err = strconv.ParseInt(strings.TrimSpace(a), 10, 64); err == nil {
		hi = lo
		if isRange {
			hi, err = strconv.ParseInt(strings.TrimSpace(b), 10, 64)
		}
	}
	switch {
	case err != nil || lo <= 0 || hi < lo:
		return 0, 0, fmt.Errorf("%q is not an id or an id range", xmlText(s))
	case hi-lo >= maxIDRange:
		return 0, 0, &LimitError{What: fmt.Sprintf("ID_RANGE %q", xmlText(s)), Limit: "ids in one ID_RANGE", Max: maxIDRange}
	}
	return lo, hi, nil
}

func (x *xPolicy) to() (compliance.Policy, error) {
	var f fieldErrs
	pol := compliance.Policy{
		ID: f.int("ID", x.ID), Title: xmlText(x.Title), CreatedBy: xmlText(x.Created.By),
		CreatedDate: f.date("CREATED/DATETIME", x.Created.DateTime), ModifiedBy: xmlText(x.Modified.By),
		ModifiedDate:      f.date("LAST_MODIFIED/DATETIME", x.Modified.DateTime),
		LastEvaluatedDate: f.date("LAST_EVALUATED/DATETIME", x.Evaluated.DateTime),
		Status:            strings.ToLower(xmlText(x.Status)), Locked: xmlBool(x.Locked),
	}
	if f.err != nil || pol.ID == 0 {
		return pol, fmt.Errorf("policy %q: %v", xmlText(x.ID), errors.Join(f.err, errIf(pol.ID == 0, "no ID")))
	}
	return pol, nil
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

func withAction(params Params, action string) url.Values {
	p := url.Values{}
	for k, v := range params {
		p[k] = append([]string(nil), v...)
	}
	p.Set("action", action)
	return p
}

// each posts params to path and calls fn for every start element of the
// answer, with the stream positioned on it; fn may decode it or let it be.
func (s *ClassicService) each(ctx context.Context, path string, p url.Values, fn func(*xmlStream, xml.StartElement) error) error {
	_, err := s.eachCounted(ctx, path, p, fn)
	return err
}

// eachCounted is each, also returning the answer's size in bytes.
func (s *ClassicService) eachCounted(ctx context.Context, path string, p url.Values, fn func(*xmlStream, xml.StartElement) error) (int64, error) {
	resp, err := s.c.doClassic(ctx, path, p)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return decodeEach(resp.Body, "/api/.../"+path+"/ action="+p.Get("action"), fn)
}

// decodeEach reads a classic answer and calls fn for every start element,
// with the stream positioned on it; fn may decode it or let it be. A
// SIMPLE_RETURN at the root is an *APIError. It returns the answer's size.
func decodeEach(r io.Reader, endpoint string, fn func(*xmlStream, xml.StartElement) error) (n int64, err error) {
	st := newXMLStream(r)
	defer func() { n = st.in.read }()
	for first := true; ; first = false {
		start, err := st.next()
		if err == io.EOF {
			if first {
				return 0, fmt.Errorf("%w: the answer was empty", ErrTruncated)
			}
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if first {
			if err := checkRoot(st, endpoint, start); err != nil {
				return 0, err
			}
		}
		if err := fn(st, start); err != nil {
			return 0, err
		}
	}
}

type xTechnology struct {
	ID          string `xml:"ID"`
	Name        string `xml:"NAME"`
	Rationale   string `xml:"RATIONALE"`
	Remediation string `xml:"REMEDIATION"`
	Description string `xml:"DESCRIPTION"`
	Evaluate    string `xml:"EVALUATE"`
}

func (x xTechnology) to(f *fieldErrs) compliance.ControlTechnology {
	return compliance.ControlTechnology{TechnologyID: f.int("TECHNOLOGY/ID", x.ID), Name: xmlText(x.Name),
		Rationale: xmlText(x.Rationale), Remediation: xmlText(x.Remediation), Description: xmlText(x.Description),
		Evaluate: xmlText(x.Evaluate)}
}

type xPolicyControl struct {
	XMLName   xml.Name
	ID        string        `xml:"ID"`
	UDCID     string        `xml:"UDC_ID"`
	Statement string        `xml:"STATEMENT"`
	Crit      xCriticality  `xml:"CRITICALITY"`
	Reference string        `xml:"REFERENCE_TEXT"`
	Disabled  string        `xml:"IS_CONTROL_DISABLE"`
	Techs     []xTechnology `xml:"TECHNOLOGIES>TECHNOLOGY"`
}

type xSection struct {
	Number   string           `xml:"NUMBER"`
	Heading  string           `xml:"HEADING"`
	Controls []xPolicyControl `xml:"CONTROLS>CONTROL"`
	UDCs     []xPolicyControl `xml:"CONTROLS>USER_DEFINED_CONTROL"`
}

type xFramework struct {
	ID       string `xml:"ID"`
	Name     string `xml:"NAME"`
	Controls []struct {
		ID        string `xml:"ID"`
		Reference string `xml:"REFERENCE"`
		Comments  string `xml:"COMMENTS"`
	} `xml:"CONTROL_LIST>CONTROL"`
}

// ExportPolicy is "PC Policies Detail": the policy export
// (/api/{v}/fo/compliance/policy/?action=export&id=...) with params
// (show_user_controls, show_appendix). It reads the answer section by section.
func (s *ClassicService) ExportPolicy(ctx context.Context, id int64, params Params) (*compliance.PolicyDetail, error) {
	p := withAction(params, "export")
	p.Set("id", strconv.FormatInt(id, 10))
	d := &compliance.PolicyDetail{PolicyID: id}
	if err := s.each(ctx, "policy", p, exportDecoder(d)); err != nil {
		return nil, fmt.Errorf("export of policy %d: %w", id, err)
	}
	return d, nil
}

// exportDecoder fills d from a policy export answer, section by section.
func exportDecoder(d *compliance.PolicyDetail) func(*xmlStream, xml.StartElement) error {
	var f fieldErrs
	return func(st *xmlStream, start xml.StartElement) error {
		var text string
		switch {
		case st.at("POLICY", "TITLE"), st.at("POLICY", "EXPORTED"), st.at("POLICY", "COVER_PAGE"), st.at("POLICY", "STATUS"):
			if err := st.decode(&text, start); err != nil {
				return err
			}
			switch start.Name.Local {
			case "TITLE":
				d.Title = xmlText(text)
			case "EXPORTED":
				d.Exported = f.date("EXPORTED", text)
			case "COVER_PAGE":
				d.CoverPage = xmlText(text)
			case "STATUS":
				d.Status = strings.ToLower(xmlText(text))
			}
		case st.at("POLICY", "TECHNOLOGIES", "TECHNOLOGY"):
			var t xTechnology
			if err := st.decode(&t, start); err != nil {
				return err
			}
			d.Technologies = append(d.Technologies, compliance.Technology{ID: f.int("TECHNOLOGY/ID", t.ID), Name: xmlText(t.Name)})
		case st.at("SECTIONS", "SECTION"):
			var x xSection
			if err := st.decode(&x, start); err != nil {
				return err
			}
			d.Sections = append(d.Sections, x.to(&f))
		case st.at("APPENDIX", "FRAMEWORK_LIST", "FRAMEWORK"):
			var x xFramework
			if err := st.decode(&x, start); err != nil {
				return err
			}
			fc := compliance.FrameworkControls{Framework: compliance.Framework{ID: f.int("FRAMEWORK/ID", x.ID), Name: xmlText(x.Name)}}
			for _, c := range x.Controls {
				fc.Controls = append(fc.Controls, compliance.FrameworkControl{ControlID: f.int("CONTROL/ID", c.ID),
					Reference: xmlText(c.Reference), Comments: xmlText(c.Comments)})
			}
			d.Frameworks = append(d.Frameworks, fc)
		}
		return f.err
	}
}

func (x *xSection) to(f *fieldErrs) compliance.Section {
	sec := compliance.Section{Number: f.int("SECTION/NUMBER", x.Number), Heading: xmlText(x.Heading)}
	for _, c := range append(x.Controls, x.UDCs...) {
		pc := compliance.PolicyControl{Criticality: c.Crit.to(f), ReferenceText: xmlText(c.Reference),
			Disabled: xmlBool(c.Disabled), Statement: xmlText(c.Statement)}
		if c.XMLName.Local == "USER_DEFINED_CONTROL" {
			pc.ControlID, pc.UserDefined = f.int("USER_DEFINED_CONTROL/UDC_ID", c.UDCID), true
		} else {
			pc.ControlID = f.int("CONTROL/ID", c.ID)
		}
		for _, t := range c.Techs {
			pc.Technologies = append(pc.Technologies, t.to(f))
		}
		sec.Controls = append(sec.Controls, pc)
	}
	return sec
}

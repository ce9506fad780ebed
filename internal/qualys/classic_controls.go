package qualys

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"

	"pcsync/internal/compliance"
)

type xControl struct {
	ID          string        `xml:"ID"`
	Updated     string        `xml:"UPDATE_DATE"`
	Created     string        `xml:"CREATED_DATE"`
	Category    string        `xml:"CATEGORY"`
	SubCategory string        `xml:"SUB_CATEGORY"`
	Statement   string        `xml:"STATEMENT"`
	Crit        xCriticality  `xml:"CRITICALITY"`
	CheckType   string        `xml:"CHECK_TYPE"`
	Comment     string        `xml:"COMMENT"`
	Active      *string       `xml:"IS_ACTIVE"`
	UserDefined string        `xml:"IS_USER_DEFINED"`
	Techs       []xTechnology `xml:"TECHNOLOGY_LIST>TECHNOLOGY"`
	Frameworks  []struct {
		ID         string `xml:"ID"`
		Name       string `xml:"NAME"`
		References []struct {
			Section  string `xml:"SECTION"`
			Comments string `xml:"COMMENTS"`
		} `xml:"REFERENCE_LIST>REFERENCE"`
	} `xml:"FRAMEWORK_LIST>FRAMEWORK"`
}

func (x *xControl) to() (compliance.Control, error) {
	var f fieldErrs
	c := compliance.Control{
		ID: f.int("ID", x.ID), Updated: f.date("UPDATE_DATE", x.Updated), Created: f.date("CREATED_DATE", x.Created),
		Category: xmlText(x.Category), SubCategory: xmlText(x.SubCategory), Statement: xmlText(x.Statement),
		Criticality: x.Crit.to(&f), CheckType: xmlText(x.CheckType), Comment: xmlText(x.Comment),
		Active: x.Active == nil || xmlBool(*x.Active), UserDefined: xmlBool(x.UserDefined),
	}
	for _, t := range x.Techs {
		c.Technologies = append(c.Technologies, t.to(&f))
	}
	for _, fw := range x.Frameworks {
		id := f.int("FRAMEWORK/ID", fw.ID)
		if len(fw.References) == 0 {
			c.Frameworks = append(c.Frameworks, compliance.FrameworkReference{FrameworkID: id, FrameworkName: xmlText(fw.Name)})
		}
		for _, r := range fw.References {
			c.Frameworks = append(c.Frameworks, compliance.FrameworkReference{FrameworkID: id, FrameworkName: xmlText(fw.Name),
				Reference: xmlText(r.Section), Comments: xmlText(r.Comments)})
		}
	}
	if f.err == nil && c.ID == 0 {
		f.err = errors.New("no ID")
	}
	if f.err != nil {
		return c, fmt.Errorf("control %q: %w", xmlText(x.ID), f.err)
	}
	return c, nil
}

// ListControls is "PC Controls": /api/{v}/fo/compliance/control/?action=list
// with params (the seed's default is details=All), following the WARNING
// 1980 / id_min cursor page by page. fn gets each page whole, once it has
// arrived whole (a page cut off mid-way is fetched again, so none of it is
// stored twice), with the controls that did not decode, which are left out.
func (s *ClassicService) ListControls(ctx context.Context, params Params, fn func([]compliance.Control, []*RecordError) error) error {
	p := withAction(params, "list")
	for page := 1; ; page++ {
		var cp controlPage
		err := s.retryPage(ctx, func() error {
			cp = controlPage{}
			return s.each(ctx, "control", p, cp.decoder())
		})
		if err != nil {
			return fmt.Errorf("control list page %d: %w", page, err)
		}
		if err := fn(cp.controls, cp.bad); err != nil {
			return err
		}
		if cp.next == 0 {
			return nil
		}
		if prev, _ := strconv.ParseInt(p.Get("id_min"), 10, 64); cp.next <= prev {
			return fmt.Errorf("control list: paging did not advance (id_min %d after %d)", cp.next, prev)
		}
		p.Set("id_min", strconv.FormatInt(cp.next, 10))
	}
}

// controlPage is one page of the control list: the controls that decoded,
// those that did not, and the id_min of the next page (0 after the last).
type controlPage struct {
	controls []compliance.Control
	bad      []*RecordError
	next     int64
}

func (cp *controlPage) decoder() func(*xmlStream, xml.StartElement) error {
	return func(st *xmlStream, start xml.StartElement) error {
		switch {
		case st.at("CONTROL_LIST", "CONTROL"):
			var x xControl
			if err := st.decode(&x, start); err != nil {
				return err
			}
			c, err := x.to()
			if err != nil {
				cp.bad = append(cp.bad, &RecordError{Index: len(cp.controls) + len(cp.bad) + 1, Err: err, Raw: []byte(fmt.Sprintf("%+v", x))})
				return nil
			}
			cp.controls = append(cp.controls, c)
		case st.at("RESPONSE", "WARNING"):
			n, err := st.nextIDMin(start)
			if err != nil {
				return err
			}
			cp.next = n
		}
		return nil
	}
}

// retryPage fetches a page again when it arrives cut off, up to MaxRetries.
func (s *ClassicService) retryPage(ctx context.Context, fetch func() error) error {
	for attempt := 1; ; attempt++ {
		err := fetch()
		retry := errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformedXML)
		if err == nil || !retry || attempt > s.c.opts.MaxRetries || ctx.Err() != nil {
			return err
		}
		wait := s.c.opts.Backoff(attempt)
		s.c.log.Warn("classic answer cut off or garbled, fetching the page again", "attempt", attempt, "wait", wait.String(), "err", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

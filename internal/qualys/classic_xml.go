package qualys

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxXMLElement bounds what one decoded element (a record, a glossary
// entry, a section) may take, so that a hostile or corrupt answer cannot
// make pcsync buffer without limit.
const maxXMLElement = 64 << 20

// maxXMLAnswer bounds a whole classic answer: pages are held whole until
// their glossary arrives, so an answer without end must be refused.
const maxXMLAnswer = 1 << 30

// maxXMLDepth bounds the nesting of a classic answer (Qualys's go about 8
// deep).
const maxXMLDepth = 64

// xmlStream reads a classic API answer token by token, keeping only the
// path to the current element; callers decode one element at a time.
type xmlStream struct {
	dec  *xml.Decoder
	in   *guardReader
	path []string
}

// guardReader fails when the decoder has read far past the start of the
// token it is on (one element larger than the limit), or past the bound
// of a whole answer.
type guardReader struct {
	r     io.Reader
	read  int64
	mark  int64 // input offset where the current element started
	limit int64
}

func (g *guardReader) Read(p []byte) (int, error) {
	if g.read-g.mark > g.limit {
		return 0, &LimitError{What: fmt.Sprintf("an XML element (from byte %d)", g.mark), Limit: "qualys.maxXMLElement", Max: g.limit, Unit: "bytes"}
	}
	if g.read > maxXMLAnswer {
		return 0, &LimitError{What: "a classic API answer", Limit: "qualys.maxXMLAnswer", Max: maxXMLAnswer, Unit: "bytes"}
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

func newXMLStream(r io.Reader) *xmlStream {
	g := &guardReader{r: r, limit: maxXMLElement}
	d := xml.NewDecoder(g)
	d.Strict = true
	return &xmlStream{dec: d, in: g}
}

// next returns the next start element; the path then ends with its name.
// At the end of the document it returns io.EOF.
func (s *xmlStream) next() (xml.StartElement, error) {
	for {
		s.in.mark = s.dec.InputOffset()
		tok, err := s.dec.Token()
		if err != nil {
			return xml.StartElement{}, s.wrap(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(s.path) >= maxXMLDepth {
				return t, &LimitError{What: fmt.Sprintf("XML nesting at byte %d", s.dec.InputOffset()), Limit: "qualys.maxXMLDepth", Max: maxXMLDepth}
			}
			s.path = append(s.path, t.Name.Local)
			return t, nil
		case xml.EndElement:
			if len(s.path) > 0 {
				s.path = s.path[:len(s.path)-1]
			}
		}
	}
}

// decode decodes the element next just returned into v.
func (s *xmlStream) decode(v any, start xml.StartElement) error {
	s.in.mark = s.dec.InputOffset()
	err := s.dec.DecodeElement(v, &start)
	s.path = s.path[:len(s.path)-1]
	return s.wrap(err)
}

// at reports whether the current path ends with names.
func (s *xmlStream) at(names ...string) bool {
	if len(s.path) < len(names) {
		return false
	}
	tail := s.path[len(s.path)-len(names):]
	for i := range names {
		if tail[i] != names[i] {
			return false
		}
	}
	return true
}

// wrap marks an answer cut off mid-way as ErrTruncated.
func (s *xmlStream) wrap(err error) error {
	var lim *LimitError
	if err == nil || err == io.EOF && len(s.path) == 0 || errors.As(err, &lim) {
		return err
	}
	var syn *xml.SyntaxError
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &syn) && strings.Contains(syn.Msg, "unexpected EOF")) {
		return fmt.Errorf("%w: the XML answer ends inside <%s> at byte %d", ErrTruncated, strings.Join(s.path, "/"), s.dec.InputOffset())
	}
	return fmt.Errorf("%w at byte %d: %w", ErrMalformedXML, s.dec.InputOffset(), err)
}

// ErrMalformedXML is an answer that is not well-formed XML: a proxy's error
// page, or a stream damaged on the way. The page is fetched again.
var ErrMalformedXML = errors.New("malformed XML")

// xmlText trims an element's text.
func xmlText(s string) string { return strings.TrimSpace(s) }

func xmlInt(field, s string) (int64, error) {
	s = xmlText(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", field, s)
	}
	return n, nil
}

func xmlDate(field, s string) (time.Time, error) {
	t, err := parseDate([]byte(xmlText(s)))
	if err != nil {
		return t, fmt.Errorf("%s: %w", field, err)
	}
	return t, nil
}

func xmlBool(s string) bool {
	s = xmlText(s)
	return s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes")
}

// fieldErrs collects the first conversion error of a record.
type fieldErrs struct{ err error }

func (f *fieldErrs) int(field, s string) int64 {
	n, err := xmlInt(field, s)
	if err != nil && f.err == nil {
		f.err = err
	}
	return n
}

func (f *fieldErrs) date(field, s string) time.Time {
	t, err := xmlDate(field, s)
	if err != nil && f.err == nil {
		f.err = err
	}
	return t
}

// xWarning is the truncation WARNING of a paged answer.
type xWarning struct {
	Code string `xml:"CODE"`
	Text string `xml:"TEXT"`
	URL  string `xml:"URL"`
}

// nextIDMin decodes the WARNING element that start opens and returns the
// id_min of the next page its URL names.
func (s *xmlStream) nextIDMin(start xml.StartElement) (int64, error) {
	var w xWarning
	if err := s.decode(&w, start); err != nil {
		return 0, err
	}
	return w.nextIDMin()
}

// nextIDMin extracts id_min from a WARNING's URL.
func (w *xWarning) nextIDMin() (int64, error) {
	if xmlText(w.Code) != strconv.Itoa(CodeTruncated) {
		return 0, fmt.Errorf("unexpected WARNING %s: %s", xmlText(w.Code), xmlText(w.Text))
	}
	u, err := url.Parse(xmlText(w.URL))
	if err != nil {
		return 0, fmt.Errorf("WARNING %s has a malformed URL: %w", xmlText(w.Code), err)
	}
	v := u.Query().Get("id_min")
	if v == "" {
		return 0, fmt.Errorf("WARNING %s has no id_min in its URL %q", xmlText(w.Code), u.Redacted())
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("WARNING URL has a bad id_min %q", v)
	}
	return n, nil
}

// checkRoot turns a SIMPLE_RETURN answered with 200 into an *APIError.
func checkRoot(s *xmlStream, endpoint string, start xml.StartElement) error {
	if start.Name.Local != "SIMPLE_RETURN" {
		return nil
	}
	var doc struct {
		Response struct {
			Code string `xml:"CODE"`
			Text string `xml:"TEXT"`
		} `xml:"RESPONSE"`
	}
	if err := s.decode(&doc, start); err != nil {
		return err
	}
	code, _ := strconv.Atoi(xmlText(doc.Response.Code))
	return &APIError{Endpoint: endpoint, StatusCode: 200, Code: code, Text: xmlText(doc.Response.Text)}
}

package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"pcsync/internal/export"
	"pcsync/internal/store"
)

// securityHeaders are set on every answer: a strict Content-Security-Policy
// (no script at all, styles and images from this server only, no framing),
// no MIME sniffing, no referrer, and HSTS over https.
func securityHeaders(h http.Header, tls bool) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if tls {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

func text(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		jsonError(w, http.StatusInternalServerError, "internal error", "")
		return
	}
	writeJSONBytes(w, status, append(b, '\n'))
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
}

// apiError is the body of every API error.
type apiError struct {
	Error     string `json:"error"`
	Parameter string `json:"parameter,omitempty"` // the query parameter at fault
}

func jsonError(w http.ResponseWriter, status int, msg, param string) {
	writeJSON(w, status, apiError{Error: msg, Parameter: param})
}

// paramError is a query parameter that is unknown or has a bad value.
type paramError struct {
	Param, Msg string
}

func (e *paramError) Error() string { return "parameter " + e.Param + ": " + e.Msg }

// fail answers err: 400 naming the parameter, 404, or 500 (logged).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		jsonError(w, http.StatusBadRequest, pe.Error(), pe.Param)
	case errors.Is(err, store.ErrBadCursor):
		jsonError(w, http.StatusBadRequest, "parameter cursor: "+err.Error()+"; use the next value of the previous page", "cursor")
	case errors.Is(err, store.ErrNotFound):
		jsonError(w, http.StatusNotFound, "not found: "+r.URL.EscapedPath(), "")
	case r.Context().Err() != nil: // the client went away
	default:
		s.log.Error("request failed", "path", r.URL.Path, "err", err)
		jsonError(w, http.StatusInternalServerError, "internal error", "")
	}
}

func (s *Server) apiNotFound(w http.ResponseWriter, r *http.Request) {
	if allow := s.allowed(r); allow != "" {
		w.Header().Set("Allow", allow)
		jsonError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.EscapedPath()+": use "+allow, "")
		return
	}
	jsonError(w, http.StatusNotFound, "no such API route: "+r.Method+" "+r.URL.EscapedPath()+" (see /api/v1/openapi.json)", "")
}

// allowed lists the methods r's path answers when r's method is not one
// of them (the catch-all routes took r only for its method): their 405
// and Allow header, rather than a 404 for a route that exists. It is ""
// when the path answers no method, or answers r's (a 404 of a handler:
// no such id).
func (s *Server) allowed(r *http.Request) string {
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "/api/" {
			methods = append(methods, m)
			if m == http.MethodGet {
				methods = append(methods, http.MethodHead)
			}
		}
	}
	if slices.Contains(methods, r.Method) {
		return ""
	}
	return strings.Join(methods, ", ")
}

// list is one list of the API: its filters, its fields, and how it is read.
type list struct {
	params []string   // the filters it takes, besides limit, cursor and format
	sample export.Row // its fields, for the CSV header
	// open checks the filters and returns the list's reader.
	open func(r *http.Request, q *query) (readFunc, error)
}

// readFunc reads one page of a list (the whole list for a zero Page),
// calling emit for each row, and returns the next page's cursor.
type readFunc func(page store.Page, emit func(export.Row) error) (string, error)

// Page sizes.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// serveList answers a list: a JSON page {"items": [...], "next": cursor or
// null}, or with format=csv or ndjson the whole list, streamed.
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, l list) {
	q, err := parseQuery(r, l.params, "limit", "cursor", "format")
	var format string
	var page store.Page
	var read readFunc
	if err == nil {
		format, err = q.oneOf("format", "json", "csv", "ndjson")
	}
	if err == nil {
		page.Limit, err = q.intIn("limit", defaultLimit, 1, maxLimit)
		page.After = q.Get("cursor")
	}
	if err == nil {
		read, err = l.open(r, q)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if format == "csv" || format == "ndjson" {
		for _, p := range []string{"limit", "cursor"} {
			if q.Has(p) {
				s.fail(w, r, &paramError{Param: p, Msg: "format=" + format + " downloads the whole list, unpaged; leave out " + p + ", or page with format=json"})
				return
			}
		}
		s.streamList(w, r, l.sample, read, format)
		return
	}
	buf := newBody()
	defer buf.free()
	b := append(buf.b, `{"items":[`...)
	n := 0
	next, err := read(page, func(row export.Row) error {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = export.AppendJSON(b, row)
		return nil
	})
	buf.b = b
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b = append(b, `],"next":`...)
	if next == "" {
		b = append(b, "null"...)
	} else {
		j, _ := json.Marshal(next)
		b = append(b, j...)
	}
	buf.b = append(b, "}\n"...)
	writeJSONBytes(w, http.StatusOK, buf.b)
}

// streamList writes a whole list as CSV or NDJSON while it is read, each
// write under a deadline of its own (a long download is not cut off by the
// server's write timeout, a stalled client is).
func (s *Server) streamList(w http.ResponseWriter, r *http.Request, sample export.Row, read readFunc, format string) {
	ctype := map[string]string{"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}[format]
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	name := strings.Trim(strings.ReplaceAll(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/", "-"), "-")
	w.Header().Set("Content-Disposition", `attachment; filename="pcsync-`+name+"."+format+`"`)
	if r.Method == http.MethodHead { // the headers of the download, without reading it
		return
	}
	rc := http.NewResponseController(w)
	sent := &sentCounter{w: w}
	ew, _ := export.NewWriter(format, sent)
	if err := ew.Begin(sample); err != nil {
		return
	}
	rows := 0
	_, err := read(store.Page{}, func(row export.Row) error {
		if rows%1000 == 0 {
			_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		}
		rows++
		return ew.Write(row)
	})
	if err == nil {
		err = ew.Close()
	}
	if err != nil && sent.n == 0 { // nothing sent yet: an answer can still say it failed
		for _, h := range []string{"Content-Type", "Cache-Control", "Content-Disposition"} {
			w.Header().Del(h)
		}
		s.fail(w, r, err)
		return
	}
	if err != nil && r.Context().Err() == nil {
		s.log.Warn("list download cut off", "path", r.URL.Path, "rows", rows, "err", err)
		panic(http.ErrAbortHandler) // the client must not take a cut list for a whole one
	}
}

// sentCounter counts the bytes written through it.
type sentCounter struct {
	w io.Writer
	n int64
}

func (c *sentCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

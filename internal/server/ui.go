package server

import (
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"pcsync/internal/export"
	"pcsync/internal/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded stylesheet and images, cacheable.
func (s *Server) staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// files only (no listing of the directory); another name is the
		// dashboard's 404 page
		if fi, err := fs.Stat(sub, strings.TrimPrefix(r.URL.Path, "/static/")); err != nil || fi.IsDir() {
			s.uiNotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates: each page is layout.html and
// parts.html (the pieces pages share) plus its own.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := n[len("templates/") : len(n)-len(".html")]
		if name == "layout" || name == "parts" {
			continue
		}
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFiles, "templates/layout.html", "templates/parts.html", n))
	}
	return out
}

// page is what every page's template receives.
type page struct {
	Title   string
	Nav     string // the section of the navigation to highlight
	Auth    bool   // the server has a token (a logout button, except on the login page)
	Version string
	Now     time.Time
	// URL is the request's: the links that keep its filters (the next
	// page, a table's download) are made from it.
	URL  *url.URL
	Data any
}

// table is a table of a page as CSV: a row of its fields (the header)
// and its rows, read when it is downloaded.
type table struct {
	sample export.Row
	rows   func(emit func(export.Row) error) error
}

// tableOf is a table of items, each made a row by row.
func tableOf[T any](items []T, row func(export.Row, *T) export.Row) table {
	var zero T
	return table{sample: row(nil, &zero), rows: func(emit func(export.Row) error) error {
		for i := range items {
			if err := emit(row(nil, &items[i])); err != nil {
				return err
			}
		}
		return nil
	}}
}

// tabled is a page's view whose tables that no /api/v1 list gives are
// downloaded from the page itself, with ?csv=NAME.
type tabled interface {
	tables() map[string]table
}

// uiQuery reads a page's query: the parameters it takes, and csv.
func uiQuery(r *http.Request, params ...string) (*query, error) {
	return parseQuery(r, params, "csv")
}

// renderPage answers a page, rendered whole before anything is sent (a
// template error becomes a 500, not half a page); with ?csv=NAME, the
// page's table of that name as CSV instead.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if csv := r.URL.Query().Get("csv"); csv != "" && status == http.StatusOK {
		s.tableCSV(w, r, name, csv, p.Data)
		return
	}
	t, ok := pages[name]
	if !ok {
		s.log.Error("no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.Auth, p.Version, p.Now, p.URL = s.opts.Token != "" && name != "login", s.opts.Version, s.opts.Now(), r.URL
	buf := newBody()
	defer buf.free()
	if err := t.Execute(buf, p); err != nil {
		s.log.Error("page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.b)
}

// render answers a page with no title of its own (the login page).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	s.renderPage(w, r, status, name, page{Data: data})
}

// tableCSV answers the table name of a page's view as CSV.
func (s *Server) tableCSV(w http.ResponseWriter, r *http.Request, pageName, name string, data any) {
	v, ok := data.(tabled)
	var t table
	if ok {
		t, ok = v.tables()[name]
	}
	if !ok {
		var names []string
		if v != nil {
			for n := range v.tables() {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		s.uiFail(w, r, &paramError{Param: "csv", Msg: "this page has no table " + name + "; its tables are " + orNone(names)})
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `attachment; filename="pcsync-`+pageName+"-"+name+`.csv"`)
	ew, _ := export.NewWriter("csv", w)
	err := ew.Begin(t.sample)
	if err == nil {
		err = t.rows(ew.Write)
	}
	if err == nil {
		err = ew.Close()
	}
	if err != nil && r.Context().Err() == nil {
		s.log.Warn("table download cut off", "path", r.URL.Path, "table", name, "err", err)
		panic(http.ErrAbortHandler) // a cut table must not pass for a whole one
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// uiError answers an error as a page.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderPage(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

// uiFail answers err as a page: 400 naming the parameter, 404, or 500
// (logged).
func (s *Server) uiFail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	switch {
	case errors.As(err, &pe):
		s.uiError(w, r, http.StatusBadRequest, "The parameter "+pe.Param+" of this address is wrong: "+pe.Msg+".")
	case errors.Is(err, store.ErrBadCursor):
		s.uiError(w, r, http.StatusBadRequest, "The parameter cursor of this address is not one this list made; "+
			"follow the list's Next page link instead.")
	case errors.Is(err, store.ErrNotFound):
		s.uiNotFound(w, r)
	case r.Context().Err() != nil: // the client went away
	default:
		s.log.Error("page failed", "path", r.URL.Path, "err", err)
		s.uiError(w, r, http.StatusInternalServerError, "This page could not be read from the database; the server's log says why.")
	}
}

func (s *Server) uiNotFound(w http.ResponseWriter, r *http.Request) {
	if allow := s.allowed(r); allow != "" {
		w.Header().Set("Allow", allow)
		s.uiError(w, r, http.StatusMethodNotAllowed, r.Method+" is not answered at "+r.URL.Path+": use "+allow+".")
		return
	}
	s.uiError(w, r, http.StatusNotFound, "There is nothing at "+r.URL.Path+": no such page, or no such id in the database.")
}

// uiPageSize is the rows of a page of a list.
const uiPageSize = 50

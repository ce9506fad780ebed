package server

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded stylesheet and images, cacheable.
func staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// pages are the parsed templates: each page is layout.html plus its own.
var pages = parsePages()

func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := n[len("templates/") : len(n)-len(".html")]
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n))
	}
	return out
}

// page is what every page's template receives.
type page struct {
	Title   string
	Nav     string // the section of the navigation to highlight
	Auth    bool   // the server has a token (a logout button)
	Version string
	Now     time.Time
	Data    any
}

// render answers a page, rendered whole before anything is sent (a
// template error becomes a 500, not half a page).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	s.renderPage(w, r, status, name, page{Data: data})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := pages[name]
	if !ok {
		s.log.Error("no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.Auth, p.Version, p.Now = s.opts.Token != "", s.opts.Version, s.opts.Now()
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		s.log.Error("page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// uiError answers an error as a page.
func (s *Server) uiError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderPage(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

func (s *Server) uiNotFound(w http.ResponseWriter, r *http.Request) {
	s.uiError(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{}

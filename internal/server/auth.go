package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

// cookieName holds a browser's session: not the token itself but a value
// derived from it, which only the server can make.
const cookieName = "pcsync_session"

// sessionValue is the cookie value of a browser that gave the token.
func (s *Server) sessionValue() string {
	m := hmac.New(sha256.New, []byte(s.opts.Token))
	m.Write([]byte("pcsync dashboard session"))
	return hex.EncodeToString(m.Sum(nil))
}

// authorized reports whether r carries the token (Authorization: Bearer)
// or the session cookie of a browser that gave it.
func (s *Server) authorized(r *http.Request) bool {
	if s.opts.Token == "" {
		return true
	}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.Token)) == 1
	}
	if c, err := r.Cookie(cookieName); err == nil {
		return subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.sessionValue())) == 1
	}
	return false
}

// open are the paths answered without the token: health checks, the login
// page and the stylesheet it uses.
func open(path string) bool {
	return path == "/healthz" || path == "/login" || strings.HasPrefix(path, "/static/")
}

// authenticate refuses requests without the token: 401 for the API and
// /metrics, the login page for the dashboard.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open(r.URL.Path) || s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/metrics" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pcsync"`)
			jsonError(w, http.StatusUnauthorized, "this server needs its token: send Authorization: Bearer TOKEN", "")
			return
		}
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	})
}

// maxLoginBody bounds the login form.
const maxLoginBody = 4 << 10

// login checks the token a browser sends and gives it the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "login", loginView{Error: "The form could not be read."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if s.opts.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
		s.render(w, r, http.StatusUnauthorized, "login", loginView{Error: "That is not this server's token.", Next: next})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.sessionValue(), Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.opts.TLS})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout forgets the browser's session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.opts.TLS})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type loginView struct {
	Error string
	Next  string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", loginView{Next: safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps a redirect target on this server: a path, with no
// control character or backslash (browsers drop tabs and newlines from a
// URL and read a backslash as a slash, so "/\t/host" would leave for host).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	return next
}

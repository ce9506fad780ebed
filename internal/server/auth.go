package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cookieName holds a browser's session: not the token itself but a value
// only this server process can make (sessions).
const cookieName = "pcsync_session"

// sessionLife is how long a login lasts.
const sessionLife = 12 * time.Hour

// sessions are the browsers' logins: each cookie names a random session
// and its end, signed with a key the process draws at start (a restart
// signs every browser out); a logout revokes its session until its end.
type sessions struct {
	key     [32]byte
	mu      sync.Mutex
	revoked map[string]time.Time // session id: its end
}

func newSessions() *sessions {
	ss := &sessions{revoked: map[string]time.Time{}}
	rand.Read(ss.key[:])
	return ss
}

func (ss *sessions) sign(id string, end int64) string {
	m := hmac.New(sha256.New, ss.key[:])
	m.Write([]byte(id + "." + strconv.FormatInt(end, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// start makes the cookie value of a new session that ends at end.
func (ss *sessions) start(end time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	return id + "." + strconv.FormatInt(end.Unix(), 10) + "." + ss.sign(id, end.Unix())
}

// check returns the session id of a cookie value that this process made,
// that has not ended by now and was not revoked; "" otherwise.
func (ss *sessions) check(value string, now time.Time) (id string, end time.Time) {
	id, rest, _ := strings.Cut(value, ".")
	endText, mac, _ := strings.Cut(rest, ".")
	sec, err := strconv.ParseInt(endText, 10, 64)
	if err != nil || id == "" || !hmac.Equal([]byte(mac), []byte(ss.sign(id, sec))) || !now.Before(time.Unix(sec, 0)) {
		return "", time.Time{}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, gone := ss.revoked[id]; gone {
		return "", time.Time{}
	}
	return id, time.Unix(sec, 0)
}

// revoke ends session id, which would have ended at end, and forgets the
// revocations of sessions ended by now.
func (ss *sessions) revoke(id string, end, now time.Time) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, e := range ss.revoked {
		if !now.Before(e) {
			delete(ss.revoked, k)
		}
	}
	ss.revoked[id] = end
}

// Wrong tokens are limited per client address: a burst of guessBurst, then
// one each guessEvery. While an address has none left, every token it
// sends is refused (429), right or wrong, so that guessing goes no faster.
const (
	guessBurst = 10
	guessEvery = 6 * time.Second
	guessAddrs = 4096 // addresses remembered
)

type guesses struct {
	mu   sync.Mutex
	left map[string]guessCount
}

type guessCount struct {
	n  float64 // wrong tokens it may still send
	at time.Time
}

func (g *guesses) refill(addr string, now time.Time) guessCount {
	c, ok := g.left[addr]
	if !ok {
		return guessCount{n: guessBurst, at: now}
	}
	c.n = min(guessBurst, c.n+float64(now.Sub(c.at))/float64(guessEvery))
	c.at = now
	return c
}

// allowed says whether addr may send a token now.
func (g *guesses) allowed(addr string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refill(addr, now).n >= 1
}

// wrong counts a wrong token from addr.
func (g *guesses) wrong(addr string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.refill(addr, now)
	c.n--
	if _, ok := g.left[addr]; !ok && len(g.left) >= guessAddrs {
		g.forget(now)
	}
	g.left[addr] = c
}

// forget drops the addresses whose count is whole again, and one more if
// that left the map full: many addresses must not grow it without end.
func (g *guesses) forget(now time.Time) {
	for k := range g.left {
		if g.refill(k, now).n >= guessBurst {
			delete(g.left, k)
		}
	}
	for k := range g.left {
		if len(g.left) < guessAddrs {
			break
		}
		delete(g.left, k)
	}
}

// clientAddr is the address a request came from (not a header a client
// can set).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooManyGuesses answers a client that sent too many wrong tokens.
const tooManyGuesses = "too many wrong tokens from this address: wait a minute"

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
		id, _ := s.sessions.check(c.Value, s.opts.Now())
		return id != ""
	}
	return false
}

// open are the paths answered without the token: health checks, the login
// page and the stylesheet it uses.
func open(path string) bool {
	return path == "/healthz" || path == "/login" || path == "/logout" || strings.HasPrefix(path, "/static/")
}

// authenticate refuses requests without the token: 401 for the API and
// /metrics, the login page for the dashboard.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Token == "" && !loopbackHost(r.Host) {
			jsonError(w, http.StatusMisdirectedRequest, "this server has no token, so it answers only a loopback host name "+
				"(localhost, 127.0.0.1, [::1]), not "+strconv.Quote(r.Host)+": open it through one, or set a token (PCSYNC_SERVE_TOKEN)", "")
			return
		}
		if open(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		bearer := s.opts.Token != "" && r.Header.Get("Authorization") != ""
		if bearer && !s.guesses.allowed(clientAddr(r), s.opts.Now()) {
			w.Header().Set("Retry-After", strconv.Itoa(int(guessEvery/time.Second)))
			jsonError(w, http.StatusTooManyRequests, tooManyGuesses, "")
			return
		}
		if s.authorized(r) {
			next.ServeHTTP(w, r)
			return
		}
		if bearer {
			s.guesses.wrong(clientAddr(r), s.opts.Now())
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
	if !s.guesses.allowed(clientAddr(r), s.opts.Now()) {
		w.Header().Set("Retry-After", strconv.Itoa(int(guessEvery/time.Second)))
		s.render(w, r, http.StatusTooManyRequests, "login", loginView{Error: "Too many wrong tokens from this address: wait a minute.", Next: next})
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if s.opts.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.Token)) != 1 {
		s.guesses.wrong(clientAddr(r), s.opts.Now())
		s.render(w, r, http.StatusUnauthorized, "login", loginView{Error: "That is not this server's token.", Next: next})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.sessions.start(s.opts.Now().Add(sessionLife)), Path: "/",
		MaxAge: int(sessionLife / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.opts.TLS})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the browser's session: the cookie is cleared, and its value
// no longer lets anyone in.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		if id, end := s.sessions.check(c.Value, s.opts.Now()); id != "" {
			s.sessions.revoke(id, end, s.opts.Now())
		}
	}
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
// URL and read a backslash as a slash, so "/\t/host" would leave for host),
// and not the login or logout (a page to go back to, not a form's target).
func safeNext(next string) string {
	path, _, _ := strings.Cut(next, "?")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) ||
		path == "/login" || path == "/logout" {
		return "/"
	}
	return next
}

// loopbackHost reports whether a request's Host names this machine's
// loopback: localhost (and names under .localhost, which browsers resolve
// to it themselves) or a loopback address. Without a token this is what
// keeps a web page elsewhere from reading the server through DNS
// rebinding: its own name, pointed at 127.0.0.1, is refused.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

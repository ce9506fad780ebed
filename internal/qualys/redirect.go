package qualys

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
)

// maxRedirects bounds the same-origin redirects one request follows.
const maxRedirects = 5

// RedirectError is a redirect pcsync refused to follow: one that leaves the
// origin (scheme, host and port) the request was sent to, and so would carry
// the password, the token or the request body somewhere the user did not
// configure; or one that cannot repeat the request as it was.
type RedirectError struct {
	From, To string // redacted URLs
	Why      string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("refused to follow the redirect from %s to %s: %s; credentials are sent only to the URL you configured (check the URL, or ask why the server redirects)",
		e.From, e.To, e.Why)
}

// checkRedirect is the http.Client's redirect policy: a redirect is followed
// only to the same origin, at most maxRedirects times, and only when the
// request is repeated as it was sent (same method, and for a body, a 307 or
// 308 that replays it); anything else stops the request with a
// *RedirectError before a byte goes to the new location.
func checkRedirect(req *http.Request, via []*http.Request) error {
	first, prev := via[0], via[len(via)-1]
	refuse := func(why string) error {
		return &RedirectError{From: prev.URL.Redacted(), To: req.URL.Redacted(), Why: why}
	}
	switch {
	case first.URL.Scheme == "https" && req.URL.Scheme != "https":
		return refuse("it changes the scheme from https to " + req.URL.Scheme)
	case !sameOrigin(first.URL, req.URL):
		return refuse("it leaves " + origin(first.URL))
	case req.Method != prev.Method:
		return refuse(fmt.Sprintf("it would turn the %s into a %s and drop its body", prev.Method, req.Method))
	case len(via) > maxRedirects:
		return refuse(fmt.Sprintf("more than %d redirects", maxRedirects))
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && origin(a) == origin(b)
}

// origin is scheme://host:port with the scheme's default port made explicit.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// withRedirectPolicy returns a copy of hc that follows redirects only as
// checkRedirect allows.
func withRedirectPolicy(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = checkRedirect
	return &c
}

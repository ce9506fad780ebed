package qualys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Options configure a Client. They arrive complete (the config's defaults
// are the one source of them, applied before): NewClient checks them and
// fills nothing in. GatewayURL (PCRS) or APIURL (classic API), and the
// credentials, are required.
type Options struct {
	GatewayURL string // e.g. https://gateway.qg1.apps.qualys.com
	APIURL     string // e.g. https://qualysapi.qualys.com
	Username   string
	Password   string

	// PCRSVersion is the posture streaming API version path: 1.0 to 5.0.
	PCRSVersion string
	// ClassicVersion is the classic API version path: 2.0 to 5.0.
	ClassicVersion string
	// ClassicConcurrency is how many classic calls run at once until an
	// answer's X-Concurrency-Limit-Limit says otherwise (at least 1).
	ClassicConcurrency int

	// CACertFile adds a PEM CA bundle to the system roots (private CAs, the
	// emulator's self-signed certificate). InsecureSkipVerify turns TLS
	// verification off; the caller must warn about it.
	CACertFile         string
	InsecureSkipVerify bool
	// RootCAs, when set, replaces the system roots (in-process emulators).
	RootCAs *x509.CertPool

	// TokenTTL is the gateway token's life when the token itself does not
	// say (Qualys documents 4 h).
	TokenTTL time.Duration
	// RateCalls per RateWindow is the PCRS budget per endpoint (Qualys's
	// default is 25 per 60 s); every worker shares it. 0 calls: no budget.
	RateCalls  int
	RateWindow time.Duration
	// IdleTimeout is how long a connection may stay silent (waiting for
	// headers, or in the middle of a stream) before it counts as broken.
	// No deadline applies to a whole stream, which may take hours.
	IdleTimeout time.Duration

	// The retry policy, one for both APIs (see retry.go): MaxRetries bounds
	// retries of transient failures (network, 5xx), MaxRateWaits the waits
	// on limit answers (429; 409 codes 1960 and 1965); CheckRetry decides
	// which is which and Backoff spaces retries (DefaultCheckRetry and
	// DefaultBackoff are Qualys's rules).
	MaxRetries   int
	MaxRateWaits int
	CheckRetry   CheckRetry
	Backoff      Backoff

	UserAgent string
	Logger    *slog.Logger // nil: no logs
	// HTTPClient overrides the transport built from the TLS options.
	HTTPClient *http.Client
	// WrapTransport, when set, wraps the transport (wire capture).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// check reports the first option that is missing or out of range.
func (o *Options) check() error {
	var bad []string
	need := func(ok bool, what string) {
		if !ok {
			bad = append(bad, what)
		}
	}
	need(o.GatewayURL == "" || o.PCRSVersion != "", "PCRSVersion")
	need(o.APIURL == "" || o.ClassicVersion != "", "ClassicVersion")
	need(o.ClassicConcurrency >= 1, "ClassicConcurrency (at least 1)")
	need(o.TokenTTL > 0, "TokenTTL")
	need(o.RateCalls >= 0 && (o.RateCalls == 0 || o.RateWindow > 0), "RateCalls and RateWindow")
	need(o.IdleTimeout > 0, "IdleTimeout")
	need(o.MaxRetries >= 0 && o.MaxRateWaits >= 0, "MaxRetries and MaxRateWaits (not negative)")
	need(o.CheckRetry != nil && o.Backoff != nil, "CheckRetry and Backoff")
	need(o.UserAgent != "", "UserAgent")
	if len(bad) > 0 {
		return fmt.Errorf("incomplete client options: set %s", strings.Join(bad, ", "))
	}
	return nil
}

// Client speaks to Qualys: the gateway (JWT, PCRS) and the classic API.
type Client struct {
	opts    Options
	http    *http.Client
	gateway *url.URL
	api     *url.URL
	log     *slog.Logger
	tokens  *tokens
	limits  map[string]*limiter
	gate    *classicGate

	throttles, retries atomic.Int64 // waits for a limit, requests sent again

	// PCRS is the Policy Compliance posture streaming API.
	PCRS *PCRSService
	// Classic is the classic Policy Compliance XML API.
	Classic *ClassicService
}

// NewClient checks opts and builds a client.
func NewClient(opts Options) (*Client, error) {
	c := &Client{opts: opts, limits: map[string]*limiter{}}
	var err error
	if opts.GatewayURL != "" {
		if c.gateway, err = parseBase(opts.GatewayURL); err != nil {
			return nil, fmt.Errorf("gateway URL: %w", err)
		}
	}
	if opts.APIURL != "" {
		if c.api, err = parseBase(opts.APIURL); err != nil {
			return nil, fmt.Errorf("API URL: %w", err)
		}
	}
	if c.gateway == nil && c.api == nil {
		return nil, errors.New("no Qualys URL: set the gateway URL, the API URL or a platform")
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c.opts, c.log = opts, opts.Logger
	if opts.HTTPClient != nil {
		c.http = withRedirectPolicy(opts.HTTPClient)
	} else if c.http, err = newHTTPClient(opts); err != nil {
		return nil, err
	}
	c.tokens = &tokens{c: c}
	for _, ep := range []string{epPolicyList, epHostIDs, epPostureInfo} {
		c.limits[ep] = newLimiter(opts.RateCalls, opts.RateWindow)
	}
	c.PCRS = &PCRSService{c: c}
	c.gate = newClassicGate(opts.ClassicConcurrency)
	c.Classic = &ClassicService{c: c}
	return c, nil
}

// Throttles is how many times a call of this client waited for a Qualys
// rate or concurrency limit (429, 409 codes 1960/1965).
func (c *Client) Throttles() int64 { return c.throttles.Load() }

// Retries is how many requests this client sent again after a network
// error, a timeout or a server error.
func (c *Client) Retries() int64 { return c.retries.Load() }

// HasGateway reports whether the client knows a gateway URL (PCRS).
func (c *Client) HasGateway() bool { return c.gateway != nil }

// HasAPI reports whether the client knows a classic API URL.
func (c *Client) HasAPI() bool { return c.api != nil }

// Logins is how many times the client has logged in to the gateway.
func (c *Client) Logins() int {
	c.tokens.mu.Lock()
	defer c.tokens.mu.Unlock()
	return c.tokens.logins
}

func parseBase(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%q must start with https:// (or http:// for an emulator)", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q has no host name", s)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q must not carry credentials; use QUALYS_USERNAME and QUALYS_PASSWORD", u.Redacted())
	}
	return u, nil
}

func newHTTPClient(opts Options) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // off only on explicit request, with a warning
	if opts.RootCAs != nil {
		tlsConf.RootCAs = opts.RootCAs
	}
	if opts.CACertFile != "" {
		pem, err := os.ReadFile(opts.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("CA certificate: %w", err)
		}
		pool := tlsConf.RootCAs
		if pool == nil {
			if pool, err = x509.SystemCertPool(); err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate %s: no PEM certificate found", opts.CACertFile)
		}
		tlsConf.RootCAs = pool
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConf,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: opts.IdleTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
		// pcsync sniffs gzip itself: PCRS sends it without Content-Encoding.
		DisableCompression: true,
	}
	var rt http.RoundTripper = &logTransport{next: tr, log: opts.Logger}
	if opts.WrapTransport != nil {
		rt = opts.WrapTransport(rt)
	}
	return &http.Client{Transport: rt, CheckRedirect: checkRedirect}, nil
}

// Endpoint names, which are also the keys of the rate budgets.
const (
	epPolicyList  = "policy/list"
	epHostIDs     = "hostids"
	epPostureInfo = "postureInfo"
)

// doGateway sends a gateway request built by build, with a bearer token,
// under the endpoint's rate budget and the retry policy (which logs in again
// on 401 and waits out 429s).
func (c *Client) doGateway(ctx context.Context, ep string, build func(ctx context.Context) (*http.Request, error)) (*http.Response, error) {
	lim := c.limits[ep]
	var tok string
	k := &call{name: ep, pause: lim.PauseFor, relogin: func() { c.tokens.Invalidate(tok) }}
	k.admit = func(ctx context.Context) (func(), error) { return nil, lim.Wait(ctx) }
	k.send = func(ctx context.Context) (*http.Response, error) {
		var err error
		if tok, err = c.tokens.Token(ctx); err != nil {
			return nil, &final{err} // the login has had its own retries
		}
		req, err := build(ctx)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("User-Agent", c.opts.UserAgent)
		return c.send(req, req.Method+" "+req.URL.Path, nil)
	}
	return c.do(ctx, k)
}

// send makes one HTTP attempt and turns a non-2xx answer into a typed error
// (closing its body). observe, if set, sees every answer's headers.
func (c *Client) send(req *http.Request, name string, observe func(http.Header)) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, redactErr(err))
	}
	if observe != nil {
		observe(resp.Header)
	}
	if err := checkResponse(name, resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// redactErr strips any credentials from the URL inside a *url.Error; a
// refused redirect is returned bare, as it names both URLs itself.
func redactErr(err error) error {
	var re *RedirectError
	if errors.As(err, &re) {
		return re
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.User != nil {
			return &url.Error{Op: ue.Op, URL: u.Redacted(), Err: ue.Err}
		}
	}
	return err
}

// idleBody cancels its request when no byte arrives for d, so that a stalled
// answer fails instead of hanging; it sets no limit on the answer's length.
// Every answer's body is one. Pause stops the clock while the reader is
// busy elsewhere (waiting for the database), so that only the server's
// silence counts.
type idleBody struct {
	rc     io.ReadCloser
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
}

func newIdleBody(rc io.ReadCloser, d time.Duration, cancel context.CancelFunc) *idleBody {
	return &idleBody{rc: rc, d: d, cancel: cancel, timer: time.AfterFunc(d, cancel)}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	b.timer.Reset(b.d)
	return n, err
}

// Pause stops the idle clock; Resume restarts it.
func (b *idleBody) Pause()  { b.timer.Stop() }
func (b *idleBody) Resume() { b.timer.Reset(b.d) }

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

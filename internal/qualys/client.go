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
	"time"
)

// Options configure a Client. GatewayURL (PCRS) or APIURL (classic API) and
// the credentials are required; everything else has a default.
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
	// answer's X-Concurrency-Limit-Limit says otherwise (default 1).
	ClassicConcurrency int

	// CACertFile adds a PEM CA bundle to the system roots (private CAs, the
	// emulator's self-signed certificate). InsecureSkipVerify turns TLS
	// verification off; the caller must warn about it.
	CACertFile         string
	InsecureSkipVerify bool
	// RootCAs, when set, replaces the system roots (in-process emulators).
	RootCAs *x509.CertPool

	// TokenTTL is the gateway token's life when the token itself does not
	// say (default 4 h, Qualys's documented lifetime).
	TokenTTL time.Duration
	// RateCalls per RateWindow is the PCRS budget per endpoint
	// (default 25 per 60 s); every worker shares it.
	RateCalls  int
	RateWindow time.Duration
	// MaxRetries bounds retries of a call that failed transiently (network
	// error, 5xx); MaxRateWaits bounds waits on 429 answers.
	MaxRetries   int
	MaxRateWaits int
	// IdleTimeout is how long a connection may stay silent (waiting for
	// headers, or in the middle of a stream) before it counts as broken.
	// No deadline applies to a whole stream, which may take hours.
	IdleTimeout time.Duration
	// Backoff spaces retries (default DefaultBackoff).
	Backoff Backoff

	UserAgent  string
	Logger     *slog.Logger
	HTTPClient *http.Client // overrides the transport built from the TLS options
}

func (o *Options) setDefaults() {
	if o.PCRSVersion == "" {
		o.PCRSVersion = "1.0"
	}
	if o.ClassicVersion == "" {
		o.ClassicVersion = "2.0"
	}
	if o.ClassicConcurrency == 0 {
		o.ClassicConcurrency = 1
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 4 * time.Hour
	}
	if o.RateCalls == 0 {
		o.RateCalls = 25
	}
	if o.RateWindow == 0 {
		o.RateWindow = 60 * time.Second
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.MaxRateWaits == 0 {
		o.MaxRateWaits = 20
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 5 * time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.UserAgent == "" {
		o.UserAgent = "pcsync"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
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

	// PCRS is the Policy Compliance posture streaming API.
	PCRS *PCRSService
	// Classic is the classic Policy Compliance XML API.
	Classic *ClassicService
}

// NewClient checks opts and builds a client.
func NewClient(opts Options) (*Client, error) {
	opts.setDefaults()
	c := &Client{opts: opts, log: opts.Logger, limits: map[string]*limiter{}}
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
	return &http.Client{Transport: &logTransport{next: tr, log: opts.Logger}, CheckRedirect: checkRedirect}, nil
}

// Endpoint names, which are also the keys of the rate budgets.
const (
	epPolicyList  = "policy/list"
	epHostIDs     = "hostids"
	epPostureInfo = "postureInfo"
)

// doGateway sends a gateway request built by build, with a bearer token,
// under the endpoint's rate budget. It logs in again on 401, waits out 429s
// (Retry-After, or a backoff) and retries transient failures, all bounded.
func (c *Client) doGateway(ctx context.Context, ep string, build func(ctx context.Context) (*http.Request, error)) (*http.Response, error) {
	lim := c.limits[ep]
	var retries, rateWaits, reauth int
	for {
		if err := lim.Wait(ctx); err != nil {
			return nil, err
		}
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return nil, err
		}
		reqCtx, cancel := context.WithCancel(ctx)
		req, err := build(reqCtx)
		if err != nil {
			cancel()
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("User-Agent", c.opts.UserAgent)
		name := req.Method + " " + req.URL.Path
		resp, err := c.http.Do(req)
		if err == nil {
			if err = checkResponse(name, resp); err == nil {
				resp.Body = newIdleBody(resp.Body, c.opts.IdleTimeout, cancel)
				return resp, nil
			}
			resp.Body.Close()
		} else {
			err = fmt.Errorf("%s: %w", name, redactErr(err))
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var rl *RateLimitError
		var api *APIError
		switch {
		case errors.Is(err, ErrUnauthorized) && reauth < 2:
			reauth++
			c.log.Info("token refused, logging in again", "endpoint", ep, "err", err)
			c.tokens.Invalidate(tok)
		case errors.As(err, &rl):
			rateWaits++
			if rateWaits > c.opts.MaxRateWaits {
				return nil, fmt.Errorf("rate limit still exceeded after %d waits: %w", c.opts.MaxRateWaits, err)
			}
			wait := rl.RetryAfter
			if wait <= 0 {
				wait = jitter(5*time.Second, c.opts.RateWindow, rateWaits)
			}
			c.log.Warn("rate limit reached, waiting", "endpoint", ep, "wait", wait.String())
			lim.PauseFor(wait)
		case errors.As(err, &api) && !api.Temporary(), permanent(err):
			return nil, err
		default: // network errors and 5xx
			retries++
			if retries > c.opts.MaxRetries {
				return nil, fmt.Errorf("giving up after %d retries: %w", c.opts.MaxRetries, err)
			}
			wait := c.opts.Backoff(retries)
			c.log.Warn("request failed, retrying", "endpoint", ep, "attempt", retries, "wait", wait.String(), "err", err)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
}

// permanent reports transport errors that retrying cannot cure: a TLS
// certificate that does not verify, a host name that does not resolve, a
// redirect pcsync refuses to follow.
func permanent(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var dns *net.DNSError
	var re *RedirectError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		(errors.As(err, &dns) && dns.IsNotFound) || errors.As(err, &re)
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

package qualys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Classic API error codes pcsync reacts to.
const (
	CodeConcurrencyLimit = 1960
	CodeRateLimit        = 1965
	CodeTruncated        = 1980
)

// RateLimit is what a classic answer's headers announce.
type RateLimit struct {
	Limit              int // X-RateLimit-Limit: calls per window
	WindowSec          int // X-RateLimit-Window-Sec
	Remaining          int // X-RateLimit-Remaining
	ToWaitSec          int // X-RateLimit-ToWait-Sec
	ConcurrencyLimit   int // X-Concurrency-Limit-Limit
	ConcurrencyRunning int // X-Concurrency-Limit-Running
	Present            bool
}

// parseRateLimit reads the X-RateLimit-* and X-Concurrency-Limit-* headers.
func parseRateLimit(h http.Header) RateLimit {
	var rl RateLimit
	for _, f := range []struct {
		name string
		dst  *int
	}{
		{"X-RateLimit-Limit", &rl.Limit}, {"X-RateLimit-Window-Sec", &rl.WindowSec},
		{"X-RateLimit-Remaining", &rl.Remaining}, {"X-RateLimit-ToWait-Sec", &rl.ToWaitSec},
		{"X-Concurrency-Limit-Limit", &rl.ConcurrencyLimit}, {"X-Concurrency-Limit-Running", &rl.ConcurrencyRunning},
	} {
		if v := h.Get(f.name); v != "" {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				*f.dst = n
				rl.Present = true
			}
		}
	}
	return rl
}

// classicGate keeps calls within what the classic API announces: at most
// ConcurrencyLimit at once, and none while a rate-limit wait is in force.
// Every worker shares it.
type classicGate struct {
	mu      sync.Mutex
	cond    *sync.Cond
	limit   int
	running int
	until   time.Time
	last    RateLimit
}

func newClassicGate(limit int) *classicGate {
	g := &classicGate{limit: max(limit, 1)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// acquire waits for a concurrency slot and for any pause to end.
func (g *classicGate) acquire(ctx context.Context) error {
	for {
		g.mu.Lock()
		wait := time.Until(g.until)
		if wait <= 0 && g.running < g.limit {
			g.running++
			g.mu.Unlock()
			return nil
		}
		g.mu.Unlock()
		if wait <= 0 {
			wait = 50 * time.Millisecond // a slot frees when a call ends
		}
		if err := sleep(ctx, min(wait, time.Second)); err != nil {
			return err
		}
	}
}

func (g *classicGate) release() {
	g.mu.Lock()
	g.running--
	g.mu.Unlock()
}

// observe adopts the limits an answer announces.
func (g *classicGate) observe(rl RateLimit) {
	if !rl.Present {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = rl
	if rl.ConcurrencyLimit > 0 {
		g.limit = rl.ConcurrencyLimit
	}
	if rl.Remaining == 0 && rl.Limit > 0 && rl.ToWaitSec > 0 {
		g.pauseLocked(time.Duration(rl.ToWaitSec) * time.Second)
	}
}

func (g *classicGate) pause(d time.Duration) {
	g.mu.Lock()
	g.pauseLocked(d)
	g.mu.Unlock()
}

func (g *classicGate) pauseLocked(d time.Duration) {
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

// LastRateLimit is the rate and concurrency state the last classic answer announced.
func (c *Client) LastRateLimit() RateLimit {
	c.gate.mu.Lock()
	defer c.gate.mu.Unlock()
	return c.gate.last
}

// classicURL builds /api/{version}/fo/compliance/{path}.
func (c *Client) classicURL(path string) string {
	return c.api.JoinPath("api", c.opts.ClassicVersion, "fo", "compliance", path).String() + "/"
}

// doClassic posts params (as a form, which every classic list action accepts)
// with Basic auth and X-Requested-With, within the announced limits. A 409
// (codes 1960, 1965) waits X-RateLimit-ToWait-Sec, or a backoff, and is
// retried, like network errors and 5xx; all retries are bounded. The caller
// closes the body.
func (c *Client) doClassic(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	if c.api == nil {
		return nil, errors.New("no classic API URL configured")
	}
	endpoint := "POST /api/" + c.opts.ClassicVersion + "/fo/compliance/" + path + "/ action=" + params.Get("action")
	body := params.Encode()
	var retries, waits int
	for {
		if err := c.gate.acquire(ctx); err != nil {
			return nil, err
		}
		reqCtx, cancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, c.classicURL(path), strings.NewReader(body))
		if err != nil {
			cancel()
			c.gate.release()
			return nil, err
		}
		req.SetBasicAuth(c.opts.Username, c.opts.Password)
		req.Header.Set("X-Requested-With", c.opts.UserAgent)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", c.opts.UserAgent)
		resp, err := c.http.Do(req)
		if err == nil {
			rl := parseRateLimit(resp.Header)
			c.gate.observe(rl)
			if err = checkResponse(endpoint, resp); err == nil {
				body := newIdleBody(resp.Body, c.opts.IdleTimeout, cancel)
				return &http.Response{Status: resp.Status, StatusCode: resp.StatusCode, Header: resp.Header,
					Body: &releaseBody{ReadCloser: body, release: c.gate.release}}, nil
			}
			resp.Body.Close()
		} else {
			err = fmt.Errorf("%s: %w", endpoint, redactErr(err))
		}
		cancel()
		c.gate.release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var api *APIError
		switch {
		case errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized:
			return nil, &AuthError{URL: c.api.Redacted(), StatusCode: api.StatusCode, Text: api.Text}
		case errors.As(err, &api) && api.StatusCode == http.StatusConflict &&
			(api.Code == CodeConcurrencyLimit || api.Code == CodeRateLimit):
			waits++
			if waits > c.opts.MaxRateWaits {
				return nil, fmt.Errorf("classic API limits still exceeded after %d waits: %w", c.opts.MaxRateWaits, err)
			}
			wait := time.Duration(c.gate.lastToWait()) * time.Second
			if wait <= 0 {
				wait = jitter(time.Second, time.Minute, waits)
			}
			c.log.Warn("classic API limit reached, waiting", "endpoint", endpoint, "code", api.Code, "wait", wait.String())
			c.gate.pause(wait)
		case errors.As(err, &api) && !api.Temporary(), permanent(err):
			return nil, err
		default:
			retries++
			if retries > c.opts.MaxRetries {
				return nil, fmt.Errorf("giving up after %d retries: %w", c.opts.MaxRetries, err)
			}
			wait := c.opts.Backoff(retries)
			c.log.Warn("request failed, retrying", "endpoint", endpoint, "attempt", retries, "wait", wait.String(), "err", err)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
}

func (g *classicGate) lastToWait() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last.ToWaitSec
}

// releaseBody frees the call's concurrency slot when the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
	once    sync.Once
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

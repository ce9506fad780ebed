package qualys

import (
	"context"
	"errors"
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
// Every worker shares it. Waiters sleep on a channel that is closed
// whenever a slot frees or the limit changes, and on a timer for a pause.
type classicGate struct {
	mu      sync.Mutex
	limit   int
	running int
	until   time.Time
	last    RateLimit
	wake    chan struct{}
}

func newClassicGate(limit int) *classicGate {
	return &classicGate{limit: max(limit, 1), wake: make(chan struct{})}
}

// acquire waits for a concurrency slot and for any pause to end; the
// returned func gives the slot back.
func (g *classicGate) acquire(ctx context.Context) (func(), error) {
	for {
		g.mu.Lock()
		wait := time.Until(g.until)
		if wait <= 0 && g.running < g.limit {
			g.running++
			g.mu.Unlock()
			return g.release, nil
		}
		wake := g.wake
		g.mu.Unlock()
		var timer *time.Timer
		var timeout <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// wakeLocked lets every waiter look again.
func (g *classicGate) wakeLocked() {
	close(g.wake)
	g.wake = make(chan struct{})
}

func (g *classicGate) release() {
	g.mu.Lock()
	g.running--
	g.wakeLocked()
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
	if rl.ConcurrencyLimit > 0 && rl.ConcurrencyLimit != g.limit {
		g.limit = rl.ConcurrencyLimit
		g.wakeLocked()
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

// doClassic posts params (as a form, which every classic list action
// accepts) with Basic auth and X-Requested-With, within the announced
// limits and under the retry policy. The caller closes the body.
func (c *Client) doClassic(ctx context.Context, path string, params url.Values) (*http.Response, error) {
	if c.api == nil {
		return nil, errors.New("no classic API URL configured")
	}
	name := "POST /api/" + c.opts.ClassicVersion + "/fo/compliance/" + path + "/ action=" + params.Get("action")
	body := params.Encode()
	return c.do(ctx, &call{name: name, admit: c.gate.acquire, pause: c.gate.pause,
		send: func(ctx context.Context) (*http.Response, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.classicURL(path), strings.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return c.sendClassic(req, name)
		}})
}

// sendClassic authenticates req as the classic API wants, sends it, and
// lets the gate learn the limits its answer announces. A 401 is an
// *AuthError: Basic credentials are not renewed by logging in again.
func (c *Client) sendClassic(req *http.Request, name string) (*http.Response, error) {
	req.SetBasicAuth(c.opts.Username, c.opts.Password)
	req.Header.Set("X-Requested-With", c.opts.UserAgent)
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.send(req, name, func(h http.Header) { c.gate.observe(parseRateLimit(h)) })
	var api *APIError
	if errors.As(err, &api) && api.StatusCode == http.StatusUnauthorized {
		return nil, &AuthError{URL: c.api.Redacted(), StatusCode: api.StatusCode, Text: api.Text}
	}
	return resp, err
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

// Pause and Resume pass to the body's idle clock.
func (b *releaseBody) Pause() {
	if p, ok := b.ReadCloser.(pauser); ok {
		p.Pause()
	}
}

// Resume restarts the idle clock Pause stopped.
func (b *releaseBody) Resume() {
	if p, ok := b.ReadCloser.(pauser); ok {
		p.Resume()
	}
}

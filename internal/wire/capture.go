package wire

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// maxTokenBody bounds a login answer, which is read whole to learn its token.
const maxTokenBody = 1 << 20

// Capture writes every exchange that passes through its transport to a
// directory. Requests run concurrently; each has its own files.
type Capture struct {
	dir string
	log *slog.Logger
	seq atomic.Int64

	mu      sync.Mutex
	secrets [][]byte // literal secrets: the password (as sent), tokens issued
	err     error    // the first write that failed
}

// NewCapture prepares dir (created if missing; it must be empty) for a
// capture. password is replaced wherever it would be written.
func NewCapture(dir, password string, log *slog.Logger) (*Capture, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("capture directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("capture directory: %w", err)
	}
	if len(entries) > 0 {
		return nil, fmt.Errorf("capture directory %s is not empty: give a new or empty directory, so that two runs are not mixed", dir)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Capture{dir: dir, log: log}
	if password != "" {
		c.secrets = append(c.secrets, []byte(password), []byte(url.QueryEscape(password)))
	}
	return c, nil
}

// Wrap returns rt with every exchange recorded.
func (c *Capture) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &captureTransport{c: c, rt: rt}
}

// Exchanges is how many exchanges the capture has begun.
func (c *Capture) Exchanges() int { return int(c.seq.Load()) }

// Err is the first write that failed: the capture is then incomplete.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Capture) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
		c.log.Warn("capture incomplete", "err", err)
	}
}

// learn adds a secret to redact. The longest are replaced first: a short
// password found inside a token must not break the token's match.
func (c *Capture) learn(secret []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets = append(c.secrets, bytes.Clone(secret))
	slices.SortStableFunc(c.secrets, func(a, b []byte) int { return len(b) - len(a) })
}

func (c *Capture) redact(b []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.secrets {
		if len(s) > 0 {
			b = bytes.ReplaceAll(b, s, []byte(Marker))
		}
	}
	return b
}

// header is h without its credential headers, and with any secret
// learned so far replaced in the others.
func (c *Capture) header(h http.Header) http.Header {
	out := redactHeader(h)
	for _, vs := range out {
		for i, v := range vs {
			vs[i] = string(c.redact([]byte(v)))
		}
	}
	return out
}

func (c *Capture) path(seq int, ext string) string {
	return filepath.Join(c.dir, fmt.Sprintf("%06d.%s", seq, ext))
}

func (c *Capture) writeFile(seq int, ext string, data []byte) {
	if err := os.WriteFile(c.path(seq, ext), data, 0o600); err != nil {
		c.fail(err)
	}
}

func (c *Capture) writeMeta(ex *Exchange) {
	b, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		c.fail(err)
		return
	}
	c.writeFile(ex.Seq, "json", append(b, '\n'))
}

type captureTransport struct {
	c  *Capture
	rt http.RoundTripper
}

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c := t.c
	seq := int(c.seq.Add(1))
	body, err := requestBody(req)
	if err != nil {
		return nil, err
	}
	u := *req.URL
	u.User = nil
	ex := &Exchange{Seq: seq, Method: req.Method, URL: string(c.redact([]byte(u.String()))), Header: c.header(req.Header),
		Key: RequestKey(req.Method, req.URL, req.Header.Get("Content-Type"), body)}
	c.writeFile(seq, "req", c.redact(body))
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		ex.Error = string(c.redact([]byte(err.Error())))
		c.writeMeta(ex)
		return nil, err
	}
	ex.Status, ex.ResponseHeader = resp.StatusCode, c.header(resp.Header)
	c.writeMeta(ex)
	if isLogin(req) && resp.StatusCode/100 == 2 {
		return c.tokenAnswer(ex, resp)
	}
	f, err := os.OpenFile(c.path(seq, "resp"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		c.fail(err)
		return resp, nil
	}
	resp.Body = &teeBody{rc: resp.Body, c: c, ex: ex, f: f, w: bufio.NewWriterSize(f, 64<<10)}
	return resp, nil
}

// isLogin reports whether req is the gateway login, POST /auth, or a hop
// of its redirects (a 307 or 308 sends the POST on to another path, whose
// answer is the token all the same).
func isLogin(req *http.Request) bool {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	return req.Method == http.MethodPost && first.Method == http.MethodPost &&
		strings.HasSuffix(strings.TrimSuffix(first.URL.Path, "/"), "/auth")
}

// requestBody reads a request's body without consuming it.
func requestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// tokenAnswer reads a login answer whole: its body is the token, which is
// learned as a secret and written as Marker.
func (c *Capture) tokenAnswer(ex *Exchange, resp *http.Response) (*http.Response, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if tok := bytes.TrimSpace(b); len(tok) > 0 {
		c.learn(tok)
	}
	c.writeFile(ex.Seq, "resp", c.redact(b))
	ex.BodyBytes, ex.Complete = int64(len(b)), true
	c.writeMeta(ex)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// teeBody writes an answer's body to its file as the client reads it.
type teeBody struct {
	rc   io.ReadCloser
	c    *Capture
	ex   *Exchange
	f    *os.File
	w    *bufio.Writer
	once sync.Once
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.ex.BodyBytes += int64(n)
		if _, werr := b.w.Write(p[:n]); werr != nil {
			b.c.fail(werr)
		}
	}
	switch {
	case err == io.EOF:
		b.finish(true, "")
	case err != nil:
		b.finish(false, err.Error())
	}
	return n, err
}

func (b *teeBody) Close() error {
	b.finish(false, "abandoned by the client before its end")
	return b.rc.Close()
}

// finish closes the body's file and records how the body ended (the first
// ending counts).
func (b *teeBody) finish(complete bool, why string) {
	b.once.Do(func() {
		b.ex.Complete, b.ex.BodyError = complete, why
		err := errors.Join(b.w.Flush(), b.f.Close())
		if err != nil {
			b.c.fail(err)
		}
		b.c.writeMeta(b.ex)
	})
}

package qualys

import (
	"io"
	"log/slog"
	"net/http"
	"time"
)

// logTransport logs every HTTP call at debug level, once its answer has
// been read: method, URL (without credentials), status, bytes received and
// duration. Retries and waits are logged by the retry policy.
type logTransport struct {
	next http.RoundTripper
	log  *slog.Logger
}

func (t *logTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.log.Enabled(req.Context(), slog.LevelDebug) {
		return t.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.log.Debug("http call failed", "method", req.Method, "url", req.URL.Redacted(),
			"duration", time.Since(start).String(), "err", redactErr(err))
		return nil, err
	}
	resp.Body = &loggedBody{ReadCloser: resp.Body, done: func(n int64) {
		t.log.Debug("http call", "method", req.Method, "url", req.URL.Redacted(), "status", resp.StatusCode,
			"bytes", n, "duration", time.Since(start).String())
	}}
	return resp, nil
}

// loggedBody counts what is read and reports it once, on Close.
type loggedBody struct {
	io.ReadCloser
	n    int64
	done func(n int64)
}

func (b *loggedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *loggedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.done != nil {
		b.done(b.n)
		b.done = nil
	}
	return err
}

package server

import (
	"net/http"
	"runtime"
	"strings"
	"sync"
)

// DefaultConcurrency is how many requests work at once when
// Options.Concurrency is 0: one per core the Go scheduler runs (more only
// share the same cores, see admit).
func DefaultConcurrency() int { return runtime.GOMAXPROCS(0) }

// admit lets at most cap(s.slots) requests work at once; the others wait,
// first come first served (a channel's senders are woken in order), until
// one has made its answer (see turnWriter) or their client goes away.
//
// Why: every request is CPU work (SQLite runs in this process), and when
// more requests than cores run at once the scheduler shares the cores
// among them, so each request's time grows with every other one in flight
// and the dearest pages (the overview, a control) take the longest. Run in
// turn, a request's time is the wait for its turn plus its own cost, about
// the same for every route. BENCHMARKS.md has the measurement.
//
// Not admitted, so never waiting: /healthz, /metrics and static files
// (cheap, and a health check must not queue behind pages), and whole-list
// streams (?format=csv or ndjson), which can take minutes to send and
// would hold a turn while the client reads.
func (s *Server) admit(next http.Handler) http.Handler {
	if s.slots == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !admitted(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case s.slots <- struct{}{}:
		case <-r.Context().Done():
			return // the client left while waiting
		}
		tw := &turnWriter{ResponseWriter: w, release: func() { <-s.slots }}
		defer tw.done()
		next.ServeHTTP(tw, r)
	})
}

// turnWriter gives the request's turn back when the answer starts to be
// sent: pages and JSON lists are made in a buffer and written at the end,
// so the work the turn is for is over by then, and a client that reads
// slowly does not keep others waiting (a page's CSV, written as it is
// read, goes on outside the turns from its first row).
type turnWriter struct {
	http.ResponseWriter
	release func()
	once    sync.Once
}

func (t *turnWriter) done() { t.once.Do(t.release) }

func (t *turnWriter) WriteHeader(code int) {
	t.done()
	t.ResponseWriter.WriteHeader(code)
}

func (t *turnWriter) Write(b []byte) (int, error) {
	t.done()
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (t *turnWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// admitted says whether r takes a turn (see admit).
func admitted(r *http.Request) bool {
	p := r.URL.Path
	if p == "/healthz" || p == "/metrics" || strings.HasPrefix(p, "/static/") {
		return false
	}
	switch r.URL.Query().Get("format") {
	case "csv", "ndjson":
		return false
	}
	return true
}

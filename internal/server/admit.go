package server

import (
	"net/http"
	"runtime"
	"strings"
)

// DefaultConcurrency is how many requests work at once when
// Options.Concurrency is 0: one per core the Go scheduler runs (more only
// share the same cores, see admit).
func DefaultConcurrency() int { return runtime.GOMAXPROCS(0) }

// admit lets at most cap(s.slots) requests work at once; the others wait,
// first come first served (a channel's senders are woken in order), until
// one finishes or their client goes away.
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
		defer func() { <-s.slots }()
		next.ServeHTTP(w, r)
	})
}

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

package emulator

import (
	"net/http"
	"strconv"
	"time"
)

// The PCRS APIs, each with a budget of its own.
const (
	apiPolicyList  = "policy/list"
	apiHostIDs     = "hostids"
	apiPostureInfo = "postureInfo"
)

// window is a sliding-window call log: at most limit calls in any period.
type window struct {
	calls []time.Time // ring of the last limit call times
	next  int
}

// allow records a call at now if the budget has room, or returns how long
// until it will.
func (w *window) allow(now time.Time, limit int, period time.Duration) (bool, time.Duration) {
	if len(w.calls) < limit {
		w.calls = append(w.calls, now)
		return true, 0
	}
	oldest := w.calls[w.next]
	if wait := oldest.Add(period).Sub(now); wait > 0 {
		return false, wait
	}
	w.calls[w.next] = now
	w.next = (w.next + 1) % limit
	return true, 0
}

// inWindow counts the calls of the last period.
func (w *window) inWindow(now time.Time, period time.Duration) int {
	n := 0
	for _, t := range w.calls {
		if now.Sub(t) < period {
			n++
		}
	}
	return n
}

// pcrs wraps a PCRS handler with the version check, authentication and the
// API's rate budget, in that order (an unauthenticated call costs nothing).
func (s *Server) pcrs(api string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.count(api)
		if !validVersion(r.PathValue("version")) {
			http.NotFound(w, r)
			return
		}
		if !s.authorize(w, r) {
			return
		}
		if s.callFaults(w, r, api, false) {
			return
		}
		if s.opts.RateCalls > 0 {
			s.mu.Lock()
			win := s.limits[api]
			if win == nil {
				win = &window{}
				s.limits[api] = win
			}
			ok, wait := win.allow(time.Now(), s.opts.RateCalls, s.opts.RateWindow)
			s.mu.Unlock()
			if !ok {
				secs := int((wait + time.Second - 1) / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				w.Header().Set("X-RateLimit-Limit", strconv.Itoa(s.opts.RateCalls))
				w.Header().Set("X-RateLimit-Window-Sec", strconv.Itoa(int(s.opts.RateWindow/time.Second)))
				w.Header().Set("X-RateLimit-Remaining", "0")
				writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": 429, "error": "Too Many Requests",
					"message": "API rate limit exceeded: " + strconv.Itoa(s.opts.RateCalls) + " calls per " + s.opts.RateWindow.String()})
				return
			}
		}
		h(w, r)
	}
}

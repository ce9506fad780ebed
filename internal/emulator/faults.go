package emulator

import (
	"net/http"
	"sync"
	"time"
)

// Faults make the emulator misbehave the way real networks and gateways do,
// so that clients can be tested against it. Zero values inject nothing.
type Faults struct {
	// CutAfter breaks off posture streams after this many body bytes, by
	// dropping the connection mid-way (the client sees an unterminated
	// stream); CutStreams limits it to the first n streams (0: all).
	CutAfter   int64
	CutStreams int
	// Unauthorized answers the first n posture calls with 401 "JWT expired",
	// as when a token lapses during a long run.
	Unauthorized int
	// ClassicDelay holds every admitted classic call this long before it is
	// answered, as a loaded Qualys does (calls then overlap).
	ClassicDelay time.Duration
}

// faultState counts what has been injected.
type faultState struct {
	mu           sync.Mutex
	cuts         int
	unauthorized int
}

// takeCut reports whether the next stream must be cut, and after how many bytes.
func (s *Server) takeCut() int64 {
	f := s.opts.Faults
	if f.CutAfter <= 0 {
		return 0
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if f.CutStreams > 0 && s.faults.cuts >= f.CutStreams {
		return 0
	}
	s.faults.cuts++
	return f.CutAfter
}

func (s *Server) takeUnauthorized() bool {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.unauthorized >= s.opts.Faults.Unauthorized {
		return false
	}
	s.faults.unauthorized++
	return true
}

// cutWriter drops the connection once limit body bytes have been written.
type cutWriter struct {
	http.ResponseWriter
	limit, n int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if room := c.limit - c.n; int64(len(p)) > room {
		if room > 0 {
			c.ResponseWriter.Write(p[:room])
		}
		if f, ok := c.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler) // net/http closes the connection without finishing the body
	}
	c.n += int64(len(p))
	return c.ResponseWriter.Write(p)
}

func (c *cutWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

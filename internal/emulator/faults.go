package emulator

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Faults make the emulator misbehave the way real networks and gateways do,
// so that clients can be tested against it. Zero values inject nothing.
// Stream faults apply to posture answers (PCRS postureInfo and classic
// posture/info); a count of streams limits a fault to the first n of them,
// 0 meaning every stream.
type Faults struct {
	// CutAfter drops the connection after this many body bytes, leaving the
	// client an unterminated answer.
	CutAfter   int64
	CutStreams int
	// ResetPercent drops the connection of that share of streams at a point
	// of their first 64 KiB chosen by the stream's number.
	ResetPercent int
	// Trickle sleeps this long before each write of a stream (a slow link).
	Trickle time.Duration
	// StallFor stops StallStreams streams for this long after their first
	// write (longer than the client's idle timeout: a stalled connection).
	StallFor     time.Duration
	StallStreams int
	// CorruptAfter flips the bits of one byte at this offset of the body of
	// CorruptStreams compressed streams (a damaged gzip body).
	CorruptAfter   int64
	CorruptStreams int
	// MalformedEvery sends every nth record malformed (PCRS: invalid JSON
	// inside an intact array; classic: an INFO whose ID is not a number).
	// The data itself is broken: every fetch gets the same.
	MalformedEvery int
	// BrokenStreams puts garbage between two records of that many streams
	// (PCRS: text between array elements; classic: a stray end tag).
	BrokenStreams int
	// Status5xx answers the first n calls of each API with 503.
	Status5xx int
	// RateLimitStorm answers the first n gateway calls with 429 (Retry-After: 1).
	RateLimitStorm int
	// ConflictStorm answers the first n classic calls with 409 and code
	// 1965 (X-RateLimit-ToWait-Sec: 1).
	ConflictStorm int
	// Unauthorized answers the first n posture calls with 401 "JWT expired",
	// as when a token lapses during a long run.
	Unauthorized int
	// ClassicDelay holds every admitted classic call this long before it is
	// answered, as a loaded Qualys does (calls then overlap).
	ClassicDelay time.Duration
	// DenyClassic answers every classic call with 403 and code 2002, as for
	// a user whose API access is not enabled; DenyPCRS answers every PCRS
	// call with 403, as for an account without Policy Compliance streaming.
	// The credentials themselves still work.
	DenyClassic bool
	DenyPCRS    bool
	// OversizeRecord makes the second record of the first OversizeStreams
	// PCRS streams (0: all) this many bytes long (a hostile or corrupt
	// answer; pcsync refuses records over qualys.MaxRecordBytes).
	OversizeRecord  int64
	OversizeStreams int
}

// check refuses a negative count, size or duration, and a share above
// 100 percent.
func (f *Faults) check() error {
	for _, v := range []struct {
		name string
		n    int64
	}{{"cut-after", f.CutAfter}, {"cut-streams", int64(f.CutStreams)}, {"reset-percent", int64(f.ResetPercent)},
		{"trickle", int64(f.Trickle)}, {"stall", int64(f.StallFor)}, {"stall-streams", int64(f.StallStreams)},
		{"corrupt-after", f.CorruptAfter}, {"corrupt-streams", int64(f.CorruptStreams)},
		{"malformed-every", int64(f.MalformedEvery)}, {"broken-streams", int64(f.BrokenStreams)},
		{"5xx", int64(f.Status5xx)}, {"429", int64(f.RateLimitStorm)}, {"409", int64(f.ConflictStorm)},
		{"401", int64(f.Unauthorized)}, {"classic-delay", int64(f.ClassicDelay)}} {
		if v.n < 0 { // in the flags' order, so that a message names the same one each time
			return fmt.Errorf("fault %s is negative: want 0 (off) or more", v.name)
		}
	}
	if f.ResetPercent > 100 {
		return fmt.Errorf("fault reset-percent %d: want 0 to 100", f.ResetPercent)
	}
	return nil
}

// faultState counts what has been injected.
type faultState struct {
	mu           sync.Mutex
	streams      int
	counts       map[string]int
	unauthorized int
}

// take reports whether the nth occurrence of fault may still be injected
// (n limits it; 0 means always).
func (s *Server) take(fault string, limit int) bool {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	if s.faults.counts == nil {
		s.faults.counts = map[string]int{}
	}
	if limit > 0 && s.faults.counts[fault] >= limit {
		return false
	}
	s.faults.counts[fault]++
	return true
}

// Injected reports how many times fault was injected: "cut", "reset",
// "stall", "corrupt", "broken", "5xx:<api>", "429", "409", "401".
func (s *Server) Injected(fault string) int {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return s.faults.counts[fault]
}

func (s *Server) takeUnauthorized() bool {
	return s.opts.Faults.Unauthorized > 0 && s.take("401", s.opts.Faults.Unauthorized)
}

// callFaults answers a call with an injected error, if one is due; it
// reports whether it did.
func (s *Server) callFaults(w http.ResponseWriter, r *http.Request, api string, classic bool) bool {
	f := s.opts.Faults
	if classic && f.DenyClassic {
		simpleReturn(w, r, http.StatusForbidden, 2002, "API access is not enabled for this user.")
		return true
	}
	if !classic && f.DenyPCRS {
		writeJSON(w, http.StatusForbidden, map[string]any{"status": 403, "error": "Forbidden", "message": "Access is denied"})
		return true
	}
	if f.Status5xx > 0 && s.take("5xx:"+api, f.Status5xx) {
		http.Error(w, "Service Unavailable: the platform is under maintenance", http.StatusServiceUnavailable)
		return true
	}
	if !classic && f.RateLimitStorm > 0 && s.take("429", f.RateLimitStorm) {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"status": 429, "error": "Too Many Requests", "message": "API rate limit exceeded"})
		return true
	}
	if classic && f.ConflictStorm > 0 && s.take("409", f.ConflictStorm) {
		s.classicHeaders(w, time.Second)
		simpleReturn(w, r, http.StatusConflict, 1965, rateLimitText(1), "SECONDS_TO_WAIT", "1")
		return true
	}
	return false
}

// streamFaults wraps a posture answer's writer with the stream faults due
// for it, and says whether its records should be broken up.
func (s *Server) streamFaults(w http.ResponseWriter, compressed bool) (http.ResponseWriter, bool) {
	f := s.opts.Faults
	s.faults.mu.Lock()
	s.faults.streams++
	n := s.faults.streams
	s.faults.mu.Unlock()
	fw := &faultWriter{ResponseWriter: w, trickle: f.Trickle, corruptAt: -1}
	if f.CutAfter > 0 && s.take("cut", f.CutStreams) {
		fw.limit = f.CutAfter
	}
	if f.ResetPercent > 0 && int(mix(uint64(n))%100) < f.ResetPercent && s.take("reset", 0) {
		fw.limit = 1 + int64(mix(uint64(n)^0xBEEF)%(64<<10))
	}
	if f.StallFor > 0 && s.take("stall", f.StallStreams) {
		fw.stall = f.StallFor
	}
	if compressed && f.CorruptAfter > 0 && s.take("corrupt", f.CorruptStreams) {
		fw.corruptAt = f.CorruptAfter
	}
	broken := f.BrokenStreams > 0 && s.take("broken", f.BrokenStreams)
	return fw, broken
}

// faultWriter injects stream faults into an answer as it is written.
type faultWriter struct {
	http.ResponseWriter
	limit     int64 // drop the connection after this many bytes (0: never)
	n         int64
	trickle   time.Duration
	stall     time.Duration // once, after the first write
	corruptAt int64         // flip a byte at this offset (-1: never)
}

func (f *faultWriter) Write(p []byte) (int, error) {
	if f.trickle > 0 {
		time.Sleep(f.trickle)
	}
	if f.corruptAt >= f.n && f.corruptAt < f.n+int64(len(p)) {
		q := append([]byte(nil), p...)
		q[f.corruptAt-f.n] ^= 0xFF
		p = q
	}
	if f.limit > 0 {
		if room := f.limit - f.n; int64(len(p)) > room {
			if room > 0 {
				f.ResponseWriter.Write(p[:room])
			}
			f.Flush()
			panic(http.ErrAbortHandler) // net/http closes the connection without finishing the body
		}
	}
	n, err := f.ResponseWriter.Write(p)
	f.n += int64(n)
	if f.stall > 0 {
		f.Flush()
		time.Sleep(f.stall)
		f.stall = 0
	}
	return n, err
}

func (f *faultWriter) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

// malformedJSON is what a broken record looks like in a PCRS stream: it
// still opens and closes, so the records around it can be read.
func malformedJSON(id int64) []byte {
	return []byte(`{"id":` + strconv.FormatInt(id, 10) + `,"status":,"hostId":"not a number"}`)
}

// writeOversize writes a record of about size bytes, a block at a time.
func writeOversize(w io.Writer, id, size int64) error {
	if _, err := io.WriteString(w, `{"id":`+strconv.FormatInt(id, 10)+`,"status":"Passed","evidence":"`); err != nil {
		return err
	}
	block := bytes.Repeat([]byte("x"), 64<<10)
	for left := size; left > 0; left -= int64(len(block)) {
		if _, err := w.Write(block[:min(int64(len(block)), left)]); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, `"}`)
	return err
}

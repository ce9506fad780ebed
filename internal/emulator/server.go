package emulator

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. Estate is required.
type Options struct {
	Estate   *Estate
	Username string        // default "pcsync"
	Password string        // default "emulator"
	TokenTTL time.Duration // gateway token lifetime, default 4 h

	// RateCalls per RateWindow is the budget of each PCRS API (default 25
	// per 60 s). RateCalls < 0 disables the limit.
	RateCalls  int
	RateWindow time.Duration

	Style Style
	// ContentEncoding adds "Content-Encoding: gzip" to compressed posture
	// answers (Qualys, as its own clients show, does not).
	ContentEncoding bool
	// CacheResponses keeps each posture answer's bytes and replays them for
	// the same request, so that a benchmark measures the client, not the
	// generator. Memory grows with the answers cached.
	CacheResponses bool
	// Faults to inject (none by default).
	Faults Faults
	// Classic limits the classic API: Calls per Window (default 300 per
	// hour) and Concurrency calls at once (default 2). Calls < 0 disables
	// the rate limit, Concurrency < 0 the concurrency limit.
	Classic ClassicLimits

	Logger *slog.Logger
	Now    func() time.Time // the clock tokens are checked against
}

// ClassicLimits are the classic API's announced limits.
type ClassicLimits struct {
	Calls       int
	Window      time.Duration
	Concurrency int
}

// Server is the emulator's HTTP side.
type Server struct {
	opts  Options
	state atomic.Pointer[Estate] // the estate now; Advance swaps it
	key   []byte                 // JWT signing key, random per server
	mux   *http.ServeMux
	log   *slog.Logger

	mu     sync.Mutex
	limits map[string]*window
	cache  map[string][]byte
	calls  map[string]int
	faults faultState

	classicRunning int
}

// New builds a Server.
func New(opts Options) (*Server, error) {
	if opts.Estate == nil {
		return nil, fmt.Errorf("emulator: no estate")
	}
	if opts.Username == "" {
		opts.Username = "pcsync"
	}
	if opts.Password == "" {
		opts.Password = "emulator"
	}
	if opts.TokenTTL == 0 {
		opts.TokenTTL = 4 * time.Hour
	}
	if opts.RateCalls == 0 {
		opts.RateCalls = 25
	}
	if opts.RateWindow == 0 {
		opts.RateWindow = 60 * time.Second
	}
	if !opts.Style.valid() {
		return nil, fmt.Errorf("emulator: unknown style %+v", opts.Style)
	}
	if opts.TokenTTL < 0 {
		return nil, fmt.Errorf("emulator: token lifetime %s: want a positive duration", opts.TokenTTL)
	}
	if opts.RateWindow < time.Second {
		return nil, fmt.Errorf("emulator: rate window %s: want at least 1s (its header counts seconds)", opts.RateWindow)
	}
	if err := opts.Faults.check(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	if opts.Classic.Calls == 0 {
		opts.Classic.Calls = 300
	}
	if opts.Classic.Window == 0 {
		opts.Classic.Window = time.Hour
	}
	if opts.Classic.Concurrency == 0 {
		opts.Classic.Concurrency = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts: opts, log: opts.Logger, mux: http.NewServeMux(),
		limits: map[string]*window{}, cache: map[string][]byte{}, calls: map[string]int{},
	}
	s.state.Store(opts.Estate)
	s.key = make([]byte, 32)
	if _, err := rand.Read(s.key); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux.HandleFunc("POST /auth", s.handleAuth)
	s.mux.HandleFunc("GET /msp/about.php", s.handleAbout)
	s.mux.HandleFunc("POST /msp/about.php", s.handleAbout)
	s.mux.HandleFunc("GET /pcrs/{version}/posture/policy/list", s.pcrs(apiPolicyList, s.handlePolicyList))
	s.mux.HandleFunc("GET /pcrs/{version}/posture/hostids", s.pcrs(apiHostIDs, s.handleHostIDs))
	s.mux.HandleFunc("POST /pcrs/{version}/posture/postureInfo", s.pcrs(apiPostureInfo, s.handlePostureInfo))
	s.mux.HandleFunc("GET /emulator/estate", s.handleEstate)
	s.mux.HandleFunc("POST /emulator/advance", s.handleAdvance)
	s.classicRoutes()
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.mux.ServeHTTP(sw, r)
	s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "bytes", sw.n, "duration", time.Since(start).Round(time.Millisecond).String())
}

// Calls reports how many requests each API has answered (any status): for
// tests that check what a client did.
func (s *Server) Calls(api string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[api]
}

func (s *Server) count(api string) {
	s.mu.Lock()
	s.calls[api]++
	s.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// validVersion reports whether v is a PCRS version the emulator serves.
func validVersion(v string) bool {
	switch v {
	case "1.0", "2.0", "3.0", "4.0", "5.0":
		return true
	}
	return false
}

// Estate is the estate as of the latest scan cycle.
func (s *Server) Estate() *Estate { return s.state.Load() }

// Advance moves the estate one scan cycle on, happening at at (the zero
// time: now). Requests under way finish with the estate they started with.
func (s *Server) Advance(at time.Time) *Estate {
	if at.IsZero() {
		at = time.Now()
	}
	for {
		old := s.state.Load()
		next := old.Advance(at)
		if s.state.CompareAndSwap(old, next) {
			s.log.Info("estate advanced", "cycle", next.Cycle(), "at", next.Now().Format(time.RFC3339))
			return next
		}
	}
}

// handleAdvance is POST /emulator/advance[?at=RFC3339]: one scan cycle on.
func (s *Server) handleAdvance(w http.ResponseWriter, r *http.Request) {
	var at time.Time
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := parseDateParam(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "at: " + err.Error()})
			return
		}
		at = t
	}
	s.Advance(at)
	s.handleEstate(w, r)
}

func (s *Server) handleEstate(w http.ResponseWriter, r *http.Request) {
	est := s.Estate()
	cfg := est.Config()
	writeJSON(w, http.StatusOK, map[string]any{
		"seed": cfg.Seed, "policies": cfg.Policies, "inactivePolicies": cfg.InactivePolicies,
		"hosts": cfg.Hosts, "hostsPerPolicy": cfg.HostsPerPolicy, "controlsPerPolicy": cfg.ControlsPerPolicy,
		"cycle": est.Cycle(), "now": est.Now().Format(time.RFC3339),
		"subscriptionId": cfg.SubscriptionID,
	})
}

// parseDateParam reads a request date: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
func parseDateParam(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", v)
}

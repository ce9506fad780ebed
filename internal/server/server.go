// Package server is pcsync serve: the read API (/api/v1, JSON, CSV and
// NDJSON), the dashboard (server-rendered HTML, embedded assets, no
// JavaScript), /metrics for Prometheus and /healthz. It reads only through
// store.Reader and holds no lock between requests, so it works while a sync
// writes. Every route is declared in routes; every answer goes through
// respond.go, which sets the security headers.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Options configure a Server.
type Options struct {
	Reader store.Reader
	// Token, when set, is required: API calls send it as a Bearer token,
	// browsers once through the login page (then an HttpOnly cookie).
	Token  string
	Logger *slog.Logger
	// Schedule, when set, says when the in-process sync last ran and runs
	// next, for the dashboard.
	Schedule func() ScheduleState
	// TLS says the server is served over https (cookies are Secure, HSTS).
	TLS bool
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Version is pcsync's, shown in the dashboard.
	Version string
	// Concurrency is how many requests work at once (the others wait
	// their turn, see admit); 0 is DefaultConcurrency, below 0 no limit.
	Concurrency int
}

// ScheduleState is what the dashboard shows of a scheduled sync.
type ScheduleState struct {
	Every   time.Duration
	Next    time.Time
	Running bool
	LastErr string // the last scheduled run's error, if any
}

// Server answers pcsync serve's requests.
type Server struct {
	opts     Options
	rd       store.Reader
	log      *slog.Logger
	mux      *http.ServeMux
	metrics  *metrics
	handler  http.Handler
	api      []string      // the API's routes, "GET /api/v1/..."
	slots    chan struct{} // admit's turns; nil: no limit
	walks    controlWalks  // the order of walks of policies' controls (walks.go)
	sessions *sessions     // the browsers' logins (auth.go)
	guesses  guesses       // wrong tokens by address (auth.go)
}

// New makes a Server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, rd: opts.Reader, log: opts.Logger, mux: http.NewServeMux(), sessions: newSessions(),
		guesses: guesses{left: map[string]guessCount{}}}
	s.metrics = newMetrics(opts.Reader)
	switch {
	case opts.Concurrency == 0:
		s.slots = make(chan struct{}, DefaultConcurrency())
	case opts.Concurrency > 0:
		s.slots = make(chan struct{}, opts.Concurrency)
	}
	s.routes()
	s.handler = s.metrics.instrument(s.recoverPanics(s.authenticate(s.admit(s.mux))))
	return s
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header(), s.opts.TLS)
	s.handler.ServeHTTP(w, r)
}

// Registry is the Prometheus registry of /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// APIRoutes are the API's routes as declared ("GET /api/v1/hosts/{id}").
func (s *Server) APIRoutes() []string { return s.api }

// routes declares every route, one line each.
func (s *Server) routes() {
	m := s.mux
	api := func(pattern string, h http.HandlerFunc) {
		s.api = append(s.api, pattern)
		m.HandleFunc(pattern, h)
	}
	m.HandleFunc("GET /healthz", s.healthz)
	m.Handle("GET /metrics", s.metrics.handler())
	api("GET /api/v1/openapi.json", s.apiOpenAPI)
	api("GET /api/v1/summary", s.apiSummary)
	api("GET /api/v1/policies", s.apiPolicies)
	api("GET /api/v1/policies/{id}", s.apiPolicy)
	api("GET /api/v1/policies/{id}/controls", s.apiPolicyControls)
	api("GET /api/v1/controls/{id}", s.apiControl)
	api("GET /api/v1/postures", s.apiPostures)
	api("GET /api/v1/hosts", s.apiHosts)
	api("GET /api/v1/hosts/{id}", s.apiHost)
	api("GET /api/v1/frameworks", s.apiFrameworks)
	api("GET /api/v1/runs", s.apiRuns)
	api("GET /api/v1/runs/{id}", s.apiRun)
	api("GET /api/v1/changes", s.apiChanges)
	api("GET /api/v1/trend", s.apiTrend)
	api("GET /api/v1/exceptions", s.apiExceptions)
	m.HandleFunc("/api/", s.apiNotFound)

	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.logout)
	m.Handle("GET /static/", s.staticFiles())
	m.HandleFunc("GET /{$}", s.uiOverview)
	m.HandleFunc("GET /policies/{id}", s.uiPolicy)
	m.HandleFunc("GET /controls/{id}", s.uiControl)
	m.HandleFunc("GET /hosts", s.uiHosts)
	m.HandleFunc("GET /hosts/{id}", s.uiHost)
	m.HandleFunc("GET /postures", s.uiPostures)
	m.HandleFunc("GET /frameworks", s.uiFrameworks)
	m.HandleFunc("GET /changes", s.uiChanges)
	m.HandleFunc("GET /runs", s.uiRuns)
	m.HandleFunc("GET /runs/{id}", s.uiRun)
	m.HandleFunc("GET /exceptions", s.uiExceptions)
	m.HandleFunc("/", s.uiNotFound)
}

// healthz answers 200 when the database answers.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	_, err := s.rd.ListRuns(ctx, store.Page{Limit: 1}, func(*compliance.Run) error { return nil })
	if err != nil {
		s.log.Warn("health check failed", "err", err)
		text(w, http.StatusServiceUnavailable, "database unavailable\n")
		return
	}
	text(w, http.StatusOK, "ok\n")
}

// recoverPanics turns a handler's panic into a 500, logged.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", "path", r.URL.Path, "panic", v)
				jsonError(w, http.StatusInternalServerError, "internal error", "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

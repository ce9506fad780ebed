package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// metrics are what /metrics exposes: the server's requests, and the sync's
// figures read from the ledger at each scrape. Every name starts pcsync_.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(rd store.Reader) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pcsync_http_requests_total",
		Help: "HTTP requests answered, by route, method and status code."}, []string{"route", "method", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "pcsync_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}}, []string{"route"})
	m.reg.MustRegister(m.requests, m.duration, &ledgerCollector{rd: rd})
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// instrument counts and times every request by its route pattern.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern // set by the ServeMux
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// methodLabel keeps the method label to a few values: a client that sends
// made-up methods (no token needed to be answered 401) must not add series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var (
	descLastSuccess = prometheus.NewDesc("pcsync_sync_last_success_timestamp_seconds",
		"When the last successful sync finished (Unix time); 0 if none has.", nil, nil)
	descLastRun = prometheus.NewDesc("pcsync_sync_last_run_timestamp_seconds",
		"When the last finished sync finished (Unix time).", nil, nil)
	descLastRunInfo = prometheus.NewDesc("pcsync_sync_last_run_info",
		"The last finished sync: 1, labelled with its outcome and mode.", []string{"status", "mode"}, nil)
	descDuration = prometheus.NewDesc("pcsync_sync_last_run_duration_seconds", "How long the last finished sync took.", nil, nil)
	descRecords  = prometheus.NewDesc("pcsync_sync_last_run_records", "Posture records the last finished sync stored.", nil, nil)
	descRunPost  = prometheus.NewDesc("pcsync_sync_last_run_postures",
		"Posture records of the last finished sync by status.", []string{"status"}, nil)
	descRejects   = prometheus.NewDesc("pcsync_sync_last_run_rejects", "Records of the last finished sync that did not decode.", nil, nil)
	descThrottles = prometheus.NewDesc("pcsync_sync_last_run_throttles", "Waits of the last finished sync for a Qualys limit (429, 409).", nil, nil)
	descRetries   = prometheus.NewDesc("pcsync_sync_last_run_retries", "Requests the last finished sync sent again after a failure.", nil, nil)
	descRunning   = prometheus.NewDesc("pcsync_sync_running", "1 while a sync is running.", nil, nil)
	descPostures  = prometheus.NewDesc("pcsync_postures", "Current postures by status.", []string{"status"}, nil)
	descStale     = prometheus.NewDesc("pcsync_stale_postures", "Postures Qualys no longer returns.", nil, nil)
)

// ledgerCollector reads the sync's figures from the ledger at each scrape.
type ledgerCollector struct{ rd store.Reader }

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSuccess, descLastRun, descLastRunInfo, descDuration, descRecords, descRunPost,
		descRejects, descThrottles, descRetries, descRunning, descPostures, descStale} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var last, success *compliance.Run
	running := 0.0
	_, err := c.rd.ListRuns(ctx, store.Page{}, func(r *compliance.Run) error {
		switch {
		case r.Status == compliance.RunRunning:
			running = 1
			return nil
		case r.Status == "abandoned":
			return nil
		case last == nil:
			x := *r
			last = &x
		}
		if r.Status == compliance.RunSucceeded {
			x := *r
			success = &x
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		ch <- prometheus.NewInvalidMetric(descLastRun, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descRunning, running)
	gauge(descLastSuccess, unix(success))
	if last != nil {
		gauge(descLastRun, unix(last))
		gauge(descLastRunInfo, 1, string(last.Status), last.Mode)
		gauge(descDuration, last.FinishedAt.Sub(last.StartedAt).Seconds())
		gauge(descRecords, float64(last.Records))
		gauge(descRunPost, float64(last.Passed), "passed")
		gauge(descRunPost, float64(last.Failed), "failed")
		gauge(descRunPost, float64(last.Errors), "error")
		gauge(descRejects, float64(last.Rejects))
		gauge(descThrottles, float64(last.Throttles))
		gauge(descRetries, float64(last.Retries))
	}
	if sum, err := c.rd.Summary(ctx); err == nil {
		gauge(descPostures, float64(sum.Passed), "passed")
		gauge(descPostures, float64(sum.Failed), "failed")
		gauge(descPostures, float64(sum.Errors), "error")
		gauge(descStale, float64(sum.StalePostures))
	}
}

func unix(r *compliance.Run) float64 {
	if r == nil || r.FinishedAt.IsZero() {
		return 0
	}
	return float64(r.FinishedAt.UnixNano()) / 1e9
}

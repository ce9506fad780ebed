package emulator

import (
	"bufio"
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
)

// The classic APIs, each a rate-limited endpoint of its own in the
// emulator's call counts.
const (
	apiClassicPolicy  = "classic/policy"
	apiClassicControl = "classic/control"
	apiClassicPosture = "classic/posture"
)

// classicParams are the parameters each action accepts (anything else is
// error 1901).
var classicParams = map[string][]string{
	"policy/list":   {"action", "details", "ids", "id_min", "id_max", "updated_after_datetime", "echo_request"},
	"policy/export": {"action", "id", "title", "show_user_controls", "show_appendix", "echo_request"},
	"control/list": {"action", "details", "ids", "id_min", "id_max", "updated_after_datetime", "created_after_datetime",
		"truncation_limit", "echo_request"},
	"posture/list": {"action", "policy_id", "policy_ids", "output_format", "details", "hide_evidence", "show_extended_evidence",
		"cause_of_failure", "show_remediation_info", "include_dp_name", "truncation_limit", "id_min", "ips", "host_ids",
		"control_ids", "status", "status_changes_since", "evaluation_date", "echo_request", "asset_group_ids",
		"criticality_labels", "criticality_values", "use_tags", "tag_set_by", "tag_include_selector", "tag_set_include",
		"tag_exclude_selector", "tag_set_exclude"},
}

func (s *Server) classicRoutes() {
	s.mux.HandleFunc("/api/{version}/fo/compliance/policy/{$}", s.classic(apiClassicPolicy, s.handleClassicPolicy))
	s.mux.HandleFunc("/api/{version}/fo/compliance/control/{$}", s.classic(apiClassicControl, s.handleClassicControl))
	s.mux.HandleFunc("/api/{version}/fo/compliance/posture/info/{$}", s.classic(apiClassicPosture, s.handleClassicPosture))
}

// classicRequest is a classic call that passed the checks.
type classicRequest struct {
	params url.Values
	base   string // scheme://host/api/{version}/fo/compliance
}

func validClassicVersion(v string) bool {
	return slices.Contains([]string{"2.0", "3.0", "4.0", "5.0"}, v)
}

// simpleReturn writes a SIMPLE_RETURN error document; items are KEY, VALUE
// pairs for its ITEM_LIST (1960: CALLS_TO_FINISH, 1965: SECONDS_TO_WAIT).
func simpleReturn(w http.ResponseWriter, r *http.Request, status, code int, text string, items ...string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	x := &xw{w: bufio.NewWriter(w)}
	x.header("SIMPLE_RETURN", baseURL(r)+"/api/2.0/simple_return.dtd")
	x.open("SIMPLE_RETURN")
	x.open("RESPONSE")
	x.text("DATETIME", time.Now().UTC().Format(compliance.DateLayout))
	x.int("CODE", int64(code))
	x.text("TEXT", text)
	if len(items) > 1 {
		x.open("ITEM_LIST")
		for i := 0; i+1 < len(items); i += 2 {
			x.open("ITEM")
			x.text("KEY", items[i])
			x.text("VALUE", items[i+1])
			x.close("ITEM")
		}
		x.close("ITEM_LIST")
	}
	x.close("RESPONSE")
	x.close("SIMPLE_RETURN")
	x.w.WriteString("\n")
	x.w.Flush()
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// classic wraps a classic handler: version, Basic auth, X-Requested-With,
// the concurrency limit (checked first, error 1960), the rate limit (1965),
// the parameters, and the X-RateLimit-* / X-Concurrency-Limit-* headers on
// every answer.
func (s *Server) classic(api string, h func(http.ResponseWriter, *http.Request, *classicRequest)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.count(api)
		s.classicHeaders(w, 0)
		if !validClassicVersion(r.PathValue("version")) {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			simpleReturn(w, r, http.StatusBadRequest, 1908, "HTTP method "+r.Method+" is incompatible with this API")
			return
		}
		if !s.basicAuth(w, r) {
			return
		}
		if r.Header.Get("X-Requested-With") == "" {
			simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required header: X-Requested-With")
			return
		}
		if s.callFaults(w, r, api, true) {
			return
		}
		release, ok := s.classicAdmit(w, r)
		if !ok {
			return
		}
		defer release()
		if d := s.opts.Faults.ClassicDelay; d > 0 {
			time.Sleep(d)
		}
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			simpleReturn(w, r, http.StatusBadRequest, 1905, "malformed parameters: "+err.Error())
			return
		}
		base := baseURL(r) + "/api/" + r.PathValue("version") + "/fo/compliance"
		h(w, r, &classicRequest{params: r.Form, base: base})
	}
}

// basicAuth checks a classic call's Basic credentials and answers 401 with
// Qualys's SIMPLE_RETURN when they are wrong.
func (s *Server) basicAuth(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if ok && subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="MSP Portal"`)
	simpleReturn(w, r, http.StatusUnauthorized, 2000, "Bad Login/Password")
	return false
}

// classicHeaders sets the limit headers as they stand (every classic answer
// carries them, errors included); wait is X-RateLimit-ToWait-Sec's value.
// X-Concurrency-Limit-Running counts the calls running now, the one
// answered included when it holds a slot, as Qualys documents it ("including
// the one identified in the current HTTP response header"; a lone call to
// about.php shows 1).
func (s *Server) classicHeaders(w http.ResponseWriter, wait time.Duration) {
	lim := s.opts.Classic
	s.mu.Lock()
	remaining, running := lim.Calls, s.classicRunning
	if win := s.limits["classic"]; win != nil {
		remaining = lim.Calls - win.inWindow(time.Now(), lim.Window)
	}
	s.mu.Unlock()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(lim.Calls))
	h.Set("X-RateLimit-Window-Sec", strconv.Itoa(int(lim.Window/time.Second)))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("X-RateLimit-ToWait-Sec", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	h.Set("X-Concurrency-Limit-Limit", strconv.Itoa(lim.Concurrency))
	h.Set("X-Concurrency-Limit-Running", strconv.Itoa(running))
}

// classicAdmit applies the concurrency and rate limits and sets the limit
// headers. The returned release ends the call's concurrency slot.
func (s *Server) classicAdmit(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	lim := s.opts.Classic
	s.mu.Lock()
	others := s.classicRunning
	conc := lim.Concurrency > 0 && others >= lim.Concurrency
	var rateOK = true
	var wait time.Duration
	if !conc && lim.Calls > 0 {
		win := s.limits["classic"]
		if win == nil {
			win = &window{}
			s.limits["classic"] = win
		}
		rateOK, wait = win.allow(time.Now(), lim.Calls, lim.Window)
	}
	if !conc && rateOK {
		s.classicRunning++
	}
	s.mu.Unlock()
	s.classicHeaders(w, wait)
	switch {
	case conc:
		s.count("classic/1960")
		// the calls that must end before this one may run
		n := others - lim.Concurrency + 1
		simpleReturn(w, r, http.StatusConflict, 1960,
			fmt.Sprintf("This API cannot be run again until %d currently running API instance has finished.", n),
			"CALLS_TO_FINISH", strconv.Itoa(n))
		return nil, false
	case !rateOK:
		s.count("classic/1965")
		secs := int((wait + time.Second - 1) / time.Second)
		simpleReturn(w, r, http.StatusConflict, 1965, rateLimitText(secs), "SECONDS_TO_WAIT", strconv.Itoa(secs))
		return nil, false
	}
	return func() {
		s.mu.Lock()
		s.classicRunning--
		s.mu.Unlock()
	}, true
}

// checkParams enforces the parameters of an action: unknown ones are 1901,
// missing required ones 1903.
func checkParams(w http.ResponseWriter, r *http.Request, p url.Values, action string, required ...string) bool {
	allowed := classicParams[action]
	var unknown []string
	for k := range p {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		simpleReturn(w, r, http.StatusBadRequest, 1901, fmt.Sprintf("Unrecognized parameter(s): %s (action=%s allows: %s)",
			strings.Join(unknown, ", "), strings.SplitN(action, "/", 2)[1], strings.Join(allowed, ", ")))
		return false
	}
	for _, k := range required {
		if p.Get(k) == "" {
			simpleReturn(w, r, http.StatusBadRequest, 1903, "Missing required parameter(s): "+k)
			return false
		}
	}
	return true
}

// flagParam reads a 0/1 parameter; anything else is error 1905.
func flagParam(w http.ResponseWriter, r *http.Request, p url.Values, name string) (bool, bool) {
	switch p.Get(name) {
	case "", "0":
		return false, true
	case "1":
		return true, true
	}
	simpleReturn(w, r, http.StatusBadRequest, 1905, fmt.Sprintf("parameter %s has invalid value: %s", name, p.Get(name)))
	return false, false
}

// oneOf checks a parameter against its allowed values (1905 otherwise).
func oneOf(w http.ResponseWriter, r *http.Request, p url.Values, name, def string, values ...string) (string, bool) {
	v := p.Get(name)
	if v == "" {
		return def, true
	}
	for _, a := range values {
		if strings.EqualFold(v, a) {
			return a, true
		}
	}
	simpleReturn(w, r, http.StatusBadRequest, 1905, fmt.Sprintf("parameter %s has invalid value: %s (use %s)", name, v, strings.Join(values, ", ")))
	return "", false
}

// intParam reads a non-negative integer parameter (1905 otherwise).
func intParam(w http.ResponseWriter, r *http.Request, p url.Values, name string, def int64) (int64, bool) {
	v := p.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		simpleReturn(w, r, http.StatusBadRequest, 1905, fmt.Sprintf("parameter %s has invalid value: %s", name, v))
		return 0, false
	}
	return n, true
}

// idList reads a comma-separated id list with ranges ("1,5-9").
func idList(w http.ResponseWriter, r *http.Request, p url.Values, name string) (func(int64) bool, bool) {
	v := strings.TrimSpace(p.Get(name))
	if v == "" {
		return nil, true
	}
	type span struct{ lo, hi int64 }
	var spans []span
	for _, part := range strings.Split(v, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.ParseInt(lo, 10, 64)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseInt(hi, 10, 64)
		}
		if err1 != nil || err2 != nil || b < a {
			simpleReturn(w, r, http.StatusBadRequest, 1905, fmt.Sprintf("parameter %s has invalid value: %s", name, part))
			return nil, false
		}
		spans = append(spans, span{a, b})
	}
	return func(id int64) bool {
		for _, s := range spans {
			if id >= s.lo && id <= s.hi {
				return true
			}
		}
		return false
	}, true
}

// dateParam reads a date parameter (1905 when malformed).
func dateParam(w http.ResponseWriter, r *http.Request, p url.Values, name string) (time.Time, bool) {
	v := p.Get(name)
	if v == "" {
		return time.Time{}, true
	}
	t, err := parseDateParam(v)
	if err != nil {
		simpleReturn(w, r, http.StatusBadRequest, 1905, fmt.Sprintf("parameter %s has invalid value: %s", name, v))
		return time.Time{}, false
	}
	return t, true
}

// xmlAnswer starts a 200 XML answer.
func xmlAnswer(w http.ResponseWriter) *xw {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	return &xw{w: bufio.NewWriterSize(&flushWriter{w: w}, 64<<10)}
}

// rateLimitText is Qualys's 1965 text: "This API cannot be run again for
// another 23 hours, 57 minutes and 54 seconds."
func rateLimitText(secs int) string {
	d := time.Duration(secs) * time.Second
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, secs%60
	var parts []string
	if h > 0 {
		parts = append(parts, plural(h, "hour"))
	}
	if m > 0 {
		parts = append(parts, plural(m, "minute"))
	}
	if sec > 0 || len(parts) == 0 {
		parts = append(parts, plural(sec, "second"))
	}
	text := parts[len(parts)-1]
	if len(parts) > 1 {
		text = strings.Join(parts[:len(parts)-1], ", ") + " and " + text
	}
	return "This API cannot be run again for another " + text + "."
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// warning writes the truncation WARNING (code 1980) of a page cut at limit
// records, with the URL of the next page.
func warning(x *xw, base, path string, p url.Values, limit, next int64) {
	q := url.Values{}
	for k, v := range p {
		q[k] = v
	}
	q.Set("id_min", strconv.FormatInt(next, 10))
	x.open("WARNING")
	x.int("CODE", 1980)
	x.text("TEXT", strconv.FormatInt(limit, 10)+" record limit exceeded. Use URL to get next batch of results.")
	x.cdata("URL", base+path+"?"+q.Encode())
	x.close("WARNING")
}

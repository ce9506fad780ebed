package emulator

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"pcsync/internal/compliance"
)

// handlePolicyList is GET /pcrs/{v}/posture/policy/list[?lastEvaluationDate].
func (s *Server) handlePolicyList(w http.ResponseWriter, r *http.Request) {
	est := s.Estate()
	var since time.Time
	if v := r.URL.Query().Get("lastEvaluationDate"); v != "" {
		t, err := parseDateParam(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"message": "lastEvaluationDate: " + err.Error()})
			return
		}
		since = t
	}
	type item struct {
		ID                int64  `json:"id"`
		Title             string `json:"title"`
		CreatedBy         string `json:"createdBy"`
		CreatedDate       string `json:"createdDate"`
		ModifiedBy        string `json:"modifiedBy"`
		ModifiedDate      string `json:"modifiedDate"`
		LastEvaluatedDate string `json:"lastEvaluatedDate"`
		Status            string `json:"status"`
		Locked            int    `json:"locked"`
	}
	list := []item{}
	for _, p := range est.Policies() {
		if !since.IsZero() && p.LastEvaluatedDate.Before(since) {
			continue
		}
		locked := 0
		if p.Locked {
			locked = 1
		}
		list = append(list, item{p.ID, p.Title, p.CreatedBy, compliance.FormatDate(p.CreatedDate), p.ModifiedBy,
			compliance.FormatDate(p.ModifiedDate), compliance.FormatDate(p.LastEvaluatedDate), p.Status, locked})
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptionId": est.Config().SubscriptionID, "policyList": list})
}

// pcrsError writes the JSON wrapping of a classic error code that the
// gateway uses for bad parameters (e.g. code 1905).
func pcrsError(w http.ResponseWriter, status, code int, text string) {
	writeJSON(w, status, []map[string]any{{"response": map[string]any{
		"datetime": time.Now().UTC().Format(compliance.DateLayout), "code": code, "text": text}}})
}

// handleHostIDs is GET /pcrs/{v}/posture/hostids?policyId=a,b[&lastScanDate].
func (s *Server) handleHostIDs(w http.ResponseWriter, r *http.Request) {
	est := s.Estate()
	q := r.URL.Query()
	raw := strings.TrimSpace(q.Get("policyId"))
	var ids []int64
	if raw == "" {
		v, _ := strconv.ParseFloat(r.PathValue("version"), 64)
		if v < 3 {
			pcrsError(w, http.StatusBadRequest, 1903, "Missing required parameter(s): policyId")
			return
		}
		for _, p := range est.Policies() { // v3+: all policies
			ids = append(ids, p.ID)
		}
	}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if raw == "" {
			break
		}
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil || id <= 0 {
			pcrsError(w, http.StatusBadRequest, 1905, fmt.Sprintf("parameter policy_ids has invalid value: %s (Invalid value: %s)", part, part))
			return
		}
		ids = append(ids, id)
	}
	if raw != "" && len(ids) > 10 {
		pcrsError(w, http.StatusBadRequest, 1905, fmt.Sprintf("parameter policy_ids has invalid value: %s (at most 10 policy ids per request)", raw))
		return
	}
	var lastScan time.Time
	if v := q.Get("lastScanDate"); v != "" {
		t, err := parseDateParam(v)
		if err != nil {
			pcrsError(w, http.StatusBadRequest, 1905, "parameter lastScanDate has invalid value: "+v)
			return
		}
		lastScan = t
	}
	sub := est.Config().SubscriptionID
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			bw.WriteByte(',')
		}
		hosts, ok := est.PolicyHostIDs(id, lastScan)
		fmt.Fprintf(bw, `{"policyId":"%d","subscriptionId":%q,"hostIds":[`, id, sub)
		for j, h := range hosts {
			if j > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte('"')
			bw.WriteString(strconv.FormatInt(h, 10))
			bw.WriteByte('"')
		}
		bw.WriteByte(']')
		if !ok {
			bw.WriteString(`,"error":"Error: Compliance Policy does not exist."`)
		}
		bw.WriteByte('}')
	}
	bw.WriteByte(']')
	_ = bw.Flush()
}

// postureParams reads the postureInfo query: the 0/1 flags (a bad value is
// Qualys's 404 "Invalid input Parameter.") and the date filters.
func postureParams(r *http.Request) (opts StreamOptions, compress bool, status int, msg string) {
	q := r.URL.Query()
	flag := func(name string, def bool) (bool, bool) {
		switch q.Get(name) {
		case "":
			return def, true
		case "0":
			return false, true
		case "1":
			return true, true
		}
		return false, false
	}
	var ok1, ok2 bool
	opts.Evidence, ok1 = flag("evidenceRequired", false)
	compress, ok2 = flag("compressionRequired", true)
	if !ok1 || !ok2 {
		return opts, false, http.StatusNotFound, "Invalid input Parameter."
	}
	f := &opts.Filters
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{
		{"lastEvaluationDate", &f.LastEvaluationDate}, {"lastScanDate", &f.LastScanDate},
		{"lastScanDateFrom", &f.LastScanDateFrom}, {"lastScanDateTo", &f.LastScanDateTo},
		{"statusChangedSince", &f.StatusChangedSince},
	} {
		if v := q.Get(p.name); v != "" {
			t, err := parseDateParam(v)
			if err != nil {
				return opts, false, http.StatusBadRequest, p.name + ": " + err.Error()
			}
			*p.dst = t
		}
	}
	if f.LastScanDateFrom.IsZero() != f.LastScanDateTo.IsZero() {
		return opts, false, http.StatusBadRequest, "lastScanDateFrom and lastScanDateTo must be given together"
	}
	if !f.LastScanDateFrom.IsZero() && !f.LastScanDate.IsZero() {
		return opts, false, http.StatusBadRequest, "lastScanDate cannot be combined with lastScanDateFrom/lastScanDateTo"
	}
	return opts, compress, 0, ""
}

// parsePostureBody reads the hostids-shaped request body; ids may be
// strings or numbers.
func parsePostureBody(body []byte) ([]PolicyRequest, error) {
	var elems []struct {
		PolicyID json.Number   `json:"policyId"`
		HostIDs  []json.Number `json:"hostIds"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&elems); err != nil {
		return nil, fmt.Errorf("the body must be the JSON array the hostids API returns: %w", err)
	}
	reqs := make([]PolicyRequest, 0, len(elems))
	for _, e := range elems {
		pid, err := e.PolicyID.Int64()
		if err != nil {
			return nil, fmt.Errorf("policyId %q is not a number", e.PolicyID)
		}
		req := PolicyRequest{PolicyID: pid, HostIDs: make([]int64, 0, len(e.HostIDs))}
		for _, h := range e.HostIDs {
			id, err := h.Int64()
			if err != nil {
				return nil, fmt.Errorf("host id %q is not a number", h)
			}
			req.HostIDs = append(req.HostIDs, id)
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}

// handlePostureInfo is POST /pcrs/{v}/posture/postureInfo: a chunked JSON
// array of posture records, raw gzip when compressionRequired=1, 204 when
// nothing matches.
func (s *Server) handlePostureInfo(w http.ResponseWriter, r *http.Request) {
	if s.takeUnauthorized() {
		s.unauthorized(w, "JWT expired")
		return
	}
	opts, compress, status, msg := postureParams(r)
	if status != 0 {
		writeJSON(w, status, map[string]any{"message": msg})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 256<<20))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "request body: " + err.Error()})
		return
	}
	reqs, err := parsePostureBody(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": err.Error()})
		return
	}
	version := r.PathValue("version")
	est := s.Estate()
	opts.Extended = version == "5.0" || s.opts.Style.Variants
	opts.Style = s.opts.Style
	w, opts.Broken = s.streamFaults(w, compress)
	opts.MalformedEvery = s.opts.Faults.MalformedEvery
	if f := s.opts.Faults; f.OversizeRecord > 0 && s.take("oversize", f.OversizeStreams) {
		opts.Oversize = f.OversizeRecord
	}
	key := ""
	if s.opts.CacheResponses {
		key = cacheKey(strconv.Itoa(est.Cycle())+"/"+version, r.URL.Query().Encode(), body)
		s.mu.Lock()
		cached, ok := s.cache[key]
		s.mu.Unlock()
		if ok {
			s.replay(w, cached, compress)
			return
		}
	}
	out := &lazyResponse{w: w, compress: compress, contentEncoding: s.opts.ContentEncoding}
	if key != "" {
		out.keep = &bytes.Buffer{}
	}
	n, err := est.WritePosture(out, reqs, opts)
	if err == nil {
		err = out.finish(n)
	}
	if err != nil {
		s.log.Warn("posture stream aborted", "err", err)
		return
	}
	if key != "" && n > 0 {
		s.mu.Lock()
		s.cache[key] = out.keep.Bytes()
		s.mu.Unlock()
	}
}

func cacheKey(version, query string, body []byte) string {
	sum := sha256.Sum256(body)
	return version + "?" + query + "#" + hex.EncodeToString(sum[:])
}

// replay writes a cached answer in chunks, as the live stream would.
func (s *Server) replay(w http.ResponseWriter, data []byte, compress bool) {
	w.Header().Set("Content-Type", "application/json")
	if compress && s.opts.ContentEncoding {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	for len(data) > 0 {
		n := min(len(data), 256<<10)
		if _, err := w.Write(data[:n]); err != nil {
			return
		}
		data = data[n:]
		if f != nil {
			f.Flush()
		}
	}
}

// lazyResponse defers the status line until the first record, so that an
// empty result can still be answered 204, and gzips when asked.
type lazyResponse struct {
	w               http.ResponseWriter
	compress        bool
	contentEncoding bool
	started         bool
	gz              *gzip.Writer
	dst             io.Writer
	keep            *bytes.Buffer // a copy of the bytes sent, for the cache
	pending         []byte        // "[" or "[]" held back until we know
}

func (l *lazyResponse) Write(p []byte) (int, error) {
	if !l.started {
		// WritePosture's first write is "[" + record, or "[]" when empty
		if bytes.Equal(p, []byte("[]")) {
			l.pending = append(l.pending, p...)
			return len(p), nil
		}
		l.start()
	}
	return l.dst.Write(p)
}

func (l *lazyResponse) start() {
	l.started = true
	h := l.w.Header()
	h.Set("Content-Type", "application/json")
	if l.compress && l.contentEncoding {
		h.Set("Content-Encoding", "gzip")
	}
	l.w.WriteHeader(http.StatusOK)
	var sink io.Writer = &flushWriter{w: l.w}
	if l.keep != nil {
		sink = io.MultiWriter(sink, l.keep)
	}
	l.dst = sink
	if l.compress {
		l.gz, _ = gzip.NewWriterLevel(sink, gzip.BestSpeed)
		l.dst = l.gz
	}
}

// finish closes the stream, or answers 204 if no record matched.
func (l *lazyResponse) finish(n int) error {
	if n == 0 {
		l.w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if l.gz != nil {
		return l.gz.Close()
	}
	return nil
}

// flushWriter flushes after each write so that records reach the client as
// they are produced (chunked transfer encoding).
type flushWriter struct{ w http.ResponseWriter }

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

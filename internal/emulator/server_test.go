package emulator_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

type fixture struct {
	est *emulator.Estate
	srv *emulator.Server
	ts  *httptest.Server
	now *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFixture(t *testing.T, opts emulator.Options) *fixture {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 12, 1, 30, 10
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	opts.Estate, opts.Now = est, clock.Now
	if opts.RateCalls == 0 {
		opts.RateCalls = -1
	}
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &fixture{est: est, srv: srv, ts: ts, now: clock}
}

func (f *fixture) login(t *testing.T, user, pass string) (*http.Response, string) {
	t.Helper()
	resp, err := http.PostForm(f.ts.URL+"/auth", url.Values{"username": {user}, "password": {pass}, "token": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *fixture) token(t *testing.T) string {
	t.Helper()
	resp, body := f.login(t, "pcsync", "emulator")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	return body
}

func (f *fixture) do(t *testing.T, method, path, tok string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{TokenTTL: time.Hour})
	resp, tok := f.login(t, "pcsync", "emulator")
	if resp.StatusCode != http.StatusCreated || strings.Count(tok, ".") != 2 || strings.ContainsAny(tok, "\" \n") {
		t.Fatalf("login answered %d %q; want 201 and a raw JWT", resp.StatusCode, tok)
	}
	resp, body := f.login(t, "pcsync", "wrong")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "InvalidCredentialsException") {
		t.Fatalf("bad password answered %d %s", resp.StatusCode, body)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		t.Fatalf("401 body is not JSON: %s", body)
	}
	for _, tc := range []struct{ tok, want string }{
		{"", `{"error":"Unauthorized","message":"Not authenticated","status":401}`},
		{"garbage.token.here", `{"error":"Unauthorized","message":"Not authenticated","status":401}`},
	} {
		resp, b := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", tc.tok, nil)
		if resp.StatusCode != 401 || strings.TrimSpace(string(b)) != tc.want {
			t.Fatalf("token %q: %d %s", tc.tok, resp.StatusCode, b)
		}
	}
	if resp, b := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token refused: %d %s", resp.StatusCode, b)
	}
	f.now.Add(time.Hour + time.Second)
	resp, b := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", tok, nil)
	if resp.StatusCode != 401 || strings.TrimSpace(string(b)) != `{"error":"Unauthorized","message":"JWT expired","status":401}` {
		t.Fatalf("expired token: %d %s", resp.StatusCode, b)
	}
}

func TestPolicyListAndHostIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	tok := f.token(t)
	resp, b := f.do(t, "GET", "/pcrs/2.0/posture/policy/list", tok, nil)
	var list struct {
		SubscriptionID string           `json:"subscriptionId"`
		PolicyList     []map[string]any `json:"policyList"`
	}
	if err := json.Unmarshal(b, &list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("policy list: %d %s", resp.StatusCode, b)
	}
	if len(list.PolicyList) != 13 || list.SubscriptionID == "" {
		t.Fatalf("policy list has %d policies (want 13) and subscription %q", len(list.PolicyList), list.SubscriptionID)
	}
	ids := make([]string, 0, 11)
	for _, p := range list.PolicyList[:11] {
		ids = append(ids, strconv.FormatFloat(p["id"].(float64), 'f', 0, 64))
	}
	resp, b = f.do(t, "GET", "/pcrs/1.0/posture/hostids?policyId="+strings.Join(ids, ","), tok, nil)
	if resp.StatusCode != 400 {
		t.Fatalf("11 policies: %d %s; want 400", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/pcrs/1.0/posture/hostids?policyId=4199751a", tok, nil)
	var e []struct {
		Response struct {
			Code int    `json:"code"`
			Text string `json:"text"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &e); err != nil || resp.StatusCode != 400 || e[0].Response.Code != 1905 ||
		e[0].Response.Text != "parameter policy_ids has invalid value: 4199751a (Invalid value: 4199751a)" {
		t.Fatalf("non-numeric policy id: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "GET", "/pcrs/1.0/posture/hostids?policyId="+ids[0]+",94473", tok, nil)
	var hosts []struct {
		PolicyID string   `json:"policyId"`
		HostIDs  []string `json:"hostIds"`
		Error    string   `json:"error"`
	}
	if err := json.Unmarshal(b, &hosts); err != nil || resp.StatusCode != 200 || len(hosts) != 2 {
		t.Fatalf("hostids: %d %s", resp.StatusCode, b)
	}
	if hosts[0].PolicyID != ids[0] || len(hosts[0].HostIDs) != 30 || hosts[0].Error != "" {
		t.Fatalf("known policy: %+v", hosts[0])
	}
	if hosts[1].Error != "Error: Compliance Policy does not exist." || len(hosts[1].HostIDs) != 0 {
		t.Fatalf("unknown policy: %+v", hosts[1])
	}
	if resp, _ := f.do(t, "GET", "/pcrs/1.0/posture/hostids", tok, nil); resp.StatusCode != 400 {
		t.Fatalf("v1 hostids without policyId: %d, want 400", resp.StatusCode)
	}
	resp, b = f.do(t, "GET", "/pcrs/3.0/posture/hostids", tok, nil)
	if err := json.Unmarshal(b, &hosts); err != nil || resp.StatusCode != 200 || len(hosts) != 13 {
		t.Fatalf("v3 hostids without policyId: %d, %d policies", resp.StatusCode, len(hosts))
	}
	if resp, _ := f.do(t, "GET", "/pcrs/6.0/posture/policy/list", tok, nil); resp.StatusCode != 404 {
		t.Fatalf("version 6.0: %d, want 404", resp.StatusCode)
	}
}

func (f *fixture) postureBody(t *testing.T) []byte {
	t.Helper()
	p := f.est.Policies()[0]
	ids, _ := f.est.PolicyHostIDs(p.ID, time.Time{})
	var hs []string
	for _, id := range ids {
		hs = append(hs, strconv.FormatInt(id, 10))
	}
	b, _ := json.Marshal([]map[string]any{{"policyId": strconv.FormatInt(p.ID, 10), "subscriptionId": "7654321", "hostIds": hs}})
	return b
}

func TestPostureInfo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	tok := f.token(t)
	body := f.postureBody(t)
	resp, b := f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?evidenceRequired=0&compressionRequired=1", tok, body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("compressed answer: %d, Content-Encoding %q, starts %x", resp.StatusCode, resp.Header.Get("Content-Encoding"), b[:2])
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]any
	if err := json.Unmarshal(plain, &recs); err != nil || len(recs) == 0 {
		t.Fatalf("decompressed body is not a JSON array of records: %v", err)
	}
	if !bytes.HasPrefix(plain, []byte(`[{"id":`)) || !bytes.Contains(plain, []byte(`},{"id":`)) {
		t.Fatalf("records must be compact and start with \"id\": %.80s", plain)
	}
	for _, r := range recs {
		if _, ok := r["evidence"]; ok {
			t.Fatal("evidence sent although evidenceRequired=0")
		}
	}
	resp, b = f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?evidenceRequired=1&compressionRequired=0", tok, body)
	if err := json.Unmarshal(b, &recs); err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain answer: %d %v", resp.StatusCode, err)
	}
	for _, r := range recs {
		if _, ok := r["evidence"].(map[string]any); !ok {
			t.Fatalf("record %v has no evidence object although evidenceRequired=1", r["id"])
		}
		if _, ok := r["causeOfFailure"]; ok != (r["status"] == "Failed") {
			t.Fatalf("record %v (%v): causeOfFailure present=%v", r["id"], r["status"], ok)
		}
	}
	for _, q := range []string{"evidenceRequired=2&compressionRequired=1", "evidenceRequired=0&compressionRequired=yes"} {
		resp, b = f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?"+q, tok, body)
		if resp.StatusCode != 404 || strings.TrimSpace(string(b)) != `{"message":"Invalid input Parameter."}` {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
	}
	resp, b = f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?evidenceRequired=0&compressionRequired=0&lastEvaluationDate=2099-01-01", tok, body)
	if resp.StatusCode != 204 || len(b) != 0 {
		t.Fatalf("nothing matching: %d %q, want 204", resp.StatusCode, b)
	}
}

func TestPostureInfoFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	tok := f.token(t)
	body := f.postureBody(t)
	count := func(q string) int {
		resp, b := f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?evidenceRequired=0&compressionRequired=0"+q, tok, body)
		if resp.StatusCode == 204 {
			return 0
		}
		var recs []map[string]any
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
		return len(recs)
	}
	all := count("")
	now := f.est.Now()
	mid := now.Add(-24 * time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		q    string
		some bool // strictly between none and all
	}{
		{"&lastScanDate=" + mid, true},
		{"&lastScanDateFrom=2000-01-01&lastScanDateTo=" + mid, true},
		{"&statusChangedSince=" + now.Add(-90*24*time.Hour).Format(time.RFC3339), true},
		{"&lastEvaluationDate=" + mid, true},
	} {
		n := count(tc.q)
		if n <= 0 || n >= all {
			t.Errorf("%s selected %d of %d records; want some but not all", tc.q, n, all)
		}
	}
	if resp, _ := f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?lastScanDateFrom=2020-01-01", tok, body); resp.StatusCode != 400 {
		t.Errorf("lastScanDateFrom alone: %d, want 400", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", "/pcrs/1.0/posture/postureInfo?lastScanDate=tomorrow", tok, body); resp.StatusCode != 400 {
		t.Errorf("bad date: %d, want 400", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{RateCalls: 3, RateWindow: time.Minute})
	tok := f.token(t)
	for i := range 3 {
		if resp, b := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", tok, nil); resp.StatusCode != 200 {
			t.Fatalf("call %d: %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", tok, nil)
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != 429 || ra < 1 || ra > 60 {
		t.Fatalf("4th call: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	// each API has its own budget, and /auth has none
	if resp, _ := f.do(t, "GET", "/pcrs/1.0/posture/hostids?policyId=1", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("hostids after policy list's budget is spent: %d", resp.StatusCode)
	}
	for range 5 {
		f.token(t)
	}
}

package emulator_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

// TestGatewayLoginAsQualysClientsSendIt logs in with the forms Qualys's own
// clients send: the documented token=true, qualysdk's token=true plus
// permissions=true, and the Splunk add-on's permissions=true alone.
func TestGatewayLoginAsQualysClientsSendIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"documented", url.Values{"username": {"pcsync"}, "password": {"emulator"}, "token": {"true"}}, http.StatusCreated},
		{"qualysdk", url.Values{"username": {"pcsync"}, "password": {"emulator"}, "token": {"true"}, "permissions": {"true"}}, http.StatusCreated},
		{"splunk add-on", url.Values{"username": {"pcsync"}, "password": {"emulator"}, "permissions": {"true"}}, http.StatusCreated},
		{"bare", url.Values{"username": {"pcsync"}, "password": {"emulator"}}, http.StatusCreated},
		{"bad password", url.Values{"username": {"pcsync"}, "password": {"nope"}, "permissions": {"true"}}, http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.PostForm(f.ts.URL+"/auth", tc.form)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("answered %d %s; want %d", resp.StatusCode, b, tc.want)
			}
			if tc.want != http.StatusCreated {
				return
			}
			if r, body := f.do(t, "GET", "/pcrs/1.0/posture/policy/list", string(b), nil); r.StatusCode != 200 {
				t.Fatalf("the token it gave is refused: %d %s", r.StatusCode, body)
			}
		})
	}
}

func TestClassicPolicyListDetailsNoneIsAnIDSet(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	_, body := f.classic(t, "policy/", url.Values{"action": {"list"}, "details": {"None"}}, true)
	if !strings.Contains(body, "<ID_SET>") || strings.Contains(body, "<POLICY>") || strings.Contains(body, "<TITLE>") {
		t.Fatalf("details=None answered:\n%s\nwant an ID_SET and no POLICY elements", body)
	}
	ids := regexp.MustCompile(`<ID>(\d+)</ID>`).FindAllStringSubmatch(body, -1)
	if len(ids) != len(f.est.Policies()) {
		t.Fatalf("%d ids in the ID_SET, the estate has %d policies", len(ids), len(f.est.Policies()))
	}
}

// TestClassicPolicyListFollowsTheDTD checks that each POLICY carries its
// assignment (EVALUATE_NOW, ASSET_GROUP_IDS, TAG_SET, INCLUDE_AGENT_IPS) in
// the DTD's order, and that details=All adds the glossary they refer to.
func TestClassicPolicyListFollowsTheDTD(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	order := []string{"<ID>", "<TITLE>", "<CREATED>", "<LAST_MODIFIED>", "<LAST_EVALUATED>", "<STATUS>", "<IS_LOCKED>",
		"<EVALUATE_NOW>", "<ASSET_GROUP_IDS>", "<INCLUDE_AGENT_IPS>"}
	for _, details := range []string{"Basic", "All"} {
		_, body := f.classic(t, "policy/", url.Values{"action": {"list"}, "details": {details}}, true)
		policies := strings.Split(body, "<POLICY>")[1:]
		if len(policies) != len(f.est.Policies()) {
			t.Fatalf("details=%s: %d policies", details, len(policies))
		}
		tagged := 0
		for _, p := range policies {
			at := -1
			for _, tag := range order {
				i := strings.Index(p, tag)
				if i <= at {
					t.Fatalf("details=%s: %s missing or out of order in\n%s", details, tag, p)
				}
				at = i
			}
			if i := strings.Index(p, "<TAG_SET><TAG_SET_INCLUDE><TAG_ID>"); i >= 0 {
				tagged++
				if i < strings.Index(p, "<ASSET_GROUP_IDS>") || i > strings.Index(p, "<INCLUDE_AGENT_IPS>") {
					t.Fatalf("TAG_SET out of order in\n%s", p)
				}
			}
		}
		if tagged == 0 {
			t.Fatalf("details=%s: no policy has a TAG_SET; the test proves nothing", details)
		}
		if glossary := strings.Contains(body, "<GLOSSARY><ASSET_GROUP_LIST><ASSET_GROUP><ID>"); glossary != (details == "All") {
			t.Fatalf("details=%s: glossary present %v", details, glossary)
		}
	}
}

// TestClassicConcurrencyRefusalAsQualysSendsIt holds one call in the only
// slot and checks the second's 1960 answer and both calls' headers.
func TestClassicConcurrencyRefusalAsQualysSendsIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: 1},
		Faults: emulator.Faults{ClassicDelay: 400 * time.Millisecond}})
	var wg sync.WaitGroup
	var first *http.Response
	wg.Go(func() { first, _ = f.classic(t, "policy/", url.Values{"action": {"list"}}, true) })
	time.Sleep(100 * time.Millisecond)
	resp, body := f.classic(t, "policy/", url.Values{"action": {"list"}}, true)
	wg.Wait()
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "<CODE>1960</CODE>") ||
		!strings.Contains(body, "<TEXT>This API cannot be run again until 1 currently running API instance has finished.</TEXT>") ||
		!strings.Contains(body, "<ITEM_LIST><ITEM><KEY>CALLS_TO_FINISH</KEY><VALUE>1</VALUE></ITEM></ITEM_LIST>") {
		t.Fatalf("second call answered %d:\n%s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Concurrency-Limit-Running"); got != "1" {
		t.Fatalf("refused call: X-Concurrency-Limit-Running %q, want 1 (the call holding the slot)", got)
	}
	if got := first.Header.Get("X-Concurrency-Limit-Running"); got != "1" {
		t.Fatalf("admitted call: X-Concurrency-Limit-Running %q, want 1 (itself, as Qualys documents)", got)
	}
}

func TestClassicPagingWarningNamesTheLimitAndTheNextPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	pol := strconv.FormatInt(f.est.Policies()[0].ID, 10)
	_, body := f.classic(t, "posture/info/", url.Values{"action": {"list"}, "policy_id": {pol}, "truncation_limit": {"7"}}, true)
	m := regexp.MustCompile(`<WARNING><CODE>1980</CODE><TEXT>(.*?)</TEXT><URL><!\[CDATA\[(.*?)\]\]></URL></WARNING>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no WARNING with CODE, TEXT and URL in\n%.2000s", body)
	}
	if m[1] != "7 record limit exceeded. Use URL to get next batch of results." {
		t.Fatalf("WARNING text %q", m[1])
	}
	u, err := url.Parse(m[2])
	if err != nil || !strings.HasSuffix(u.Path, "/api/2.0/fo/compliance/posture/info/") || u.Query().Get("id_min") == "" ||
		u.Query().Get("policy_id") != pol || u.Query().Get("truncation_limit") != "7" {
		t.Fatalf("WARNING URL %q does not name the next page", m[2])
	}
}

func TestAboutNamesThePlatformVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, emulator.Options{})
	get := func(user, pass string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", f.ts.URL+"/msp/about.php", nil)
		req.SetBasicAuth(user, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("pcsync", "emulator")
	if resp.StatusCode != 200 || !regexp.MustCompile(`<ABOUT><API-VERSION MAJOR="\d+" MINOR="\d+" /><WEB-VERSION>[\d.-]+</WEB-VERSION><SCANNER-VERSION>`).MatchString(body) {
		t.Fatalf("about.php answered %d:\n%s", resp.StatusCode, body)
	}
	if resp, _ := get("pcsync", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("about.php with a wrong password answered %d", resp.StatusCode)
	}
}

package qualys

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
)

func classicClient(t *testing.T, apiURL string, concurrency int) *Client {
	t.Helper()
	c, err := NewClient(complete(Options{APIURL: apiURL, Username: "pcsync", Password: "emulator", ClassicConcurrency: concurrency,
		Backoff: func(int) time.Duration { return 5 * time.Millisecond }}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClassicConcurrencyLimitIsLearnedAndRespected(t *testing.T) {
	t.Parallel()
	est, _ := newEmulator(t, emulator.Options{})
	srv, err := emulator.New(emulator.Options{Estate: est, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: 1},
		Faults: emulator.Faults{ClassicDelay: 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := classicClient(t, ts.URL, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 { // four calls at once before the client knows the limit
		wg.Go(func() {
			_, err := c.Classic.ListPolicies(t.Context(), url.Values{"details": {"All"}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a call failed instead of waiting: %v", err)
		}
	}
	refused := srv.Calls("classic/1960")
	if refused == 0 {
		t.Fatal("no call met the concurrency limit; the test proves nothing")
	}
	for range 4 { // now it knows: one at a time, no more refusals
		wg.Go(func() { _, _ = c.Classic.ListPolicies(t.Context(), nil) })
	}
	wg.Wait()
	if srv.Calls("classic/1960") != refused {
		t.Fatalf("%d more calls refused after the limit was announced", srv.Calls("classic/1960")-refused)
	}
}

func TestClassicErrorsAreTyped(t *testing.T) {
	t.Parallel()
	est, base := newEmulator(t, emulator.Options{})
	c := classicClient(t, base, 1)
	pol := est.Policies()[0].ID
	for _, tc := range []struct {
		name string
		call func() error
		code int
		text string
	}{
		{"unknown parameter", func() error { _, err := c.Classic.ListPolicies(t.Context(), url.Values{"foo": {"1"}}); return err }, 1901, "Unrecognized parameter(s): foo"},
		{"bad value", func() error {
			_, err := c.Classic.ListPolicies(t.Context(), url.Values{"details": {"Everything"}})
			return err
		}, 1905, "details"},
		{"unknown policy", func() error { _, err := c.Classic.ExportPolicy(t.Context(), 94473, nil); return err }, 1905, "94473"},
		{"both id and title", func() error {
			_, err := c.Classic.ExportPolicy(t.Context(), pol, url.Values{"title": {"x"}})
			return err
		}, 1904, "Only one of"},
		{"unsupported combination", func() error {
			return c.Classic.PostureInfo(t.Context(), pol, 0, url.Values{"details": {"All"}, "policy_ids": {"1,2"}},
				func(*PostureInfoPage) error { return nil })
		}, 1904, "policy_id, policy_ids"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var api *APIError
			if !errors.As(err, &api) || api.Code != tc.code || api.StatusCode != 400 || !strings.Contains(api.Text, tc.text) {
				t.Fatalf("error %v; want code %d saying %q", err, tc.code, tc.text)
			}
		})
	}
	err := c.Classic.PostureInfo(t.Context(), pol, 0, url.Values{"show_extended_evidence": {"1"}, "hide_evidence": {"1"}},
		func(*PostureInfoPage) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "cannot be combined") {
		t.Fatalf("extended evidence with hidden evidence: %v", err)
	}
	bad := classicClient(t, base, 1)
	bad.opts.Password = "wrong"
	var auth *AuthError
	if _, err := bad.Classic.ListPolicies(t.Context(), nil); !errors.As(err, &auth) || auth.StatusCode != 401 {
		t.Fatalf("wrong password: %v", err)
	}
}

// fixtureServer answers classic calls with testdata files: the first
// answers come from the files in order, the last one repeats.
func fixtureServer(t *testing.T, files ...string) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Requested-With") == "" {
			http.Error(w, "no X-Requested-With", http.StatusBadRequest)
			return
		}
		mu.Lock()
		f := files[min(n, len(files)-1)]
		n++
		mu.Unlock()
		data, err := os.ReadFile(filepath.Join("testdata", "classic", f))
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/xml")
		w.Write(data)
	}))
	t.Cleanup(ts.Close)
	return ts, &n
}

func TestClassicPolicyListFixture(t *testing.T) {
	t.Parallel()
	ts, _ := fixtureServer(t, "policy_list.xml")
	got, err := classicClient(t, ts.URL, 1).Classic.ListPolicies(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []compliance.Policy{
		{ID: 1627436, Title: "CIS Benchmark for RHEL 8 <v2.0> & more", CreatedBy: "jdoe", CreatedDate: utc("2018-01-19T07:52:11Z"),
			ModifiedBy: "jdoe", ModifiedDate: utc("2018-02-01T09:32:33Z"), LastEvaluatedDate: utc("2019-12-19T06:38:46Z"),
			Status: "active", Locked: false},
		{ID: 94473, Title: "Empty fields", Status: "inactive", Locked: true},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("policies\n got %+v\nwant %+v", got, want)
	}
}

func TestClassicControlListFollowsPages(t *testing.T) {
	t.Parallel()
	ts, calls := fixtureServer(t, "control_list_page1.xml", "control_list_page2.xml")
	var pages [][]compliance.Control
	err := classicClient(t, ts.URL, 1).Classic.ListControls(t.Context(), url.Values{"details": {"All"}}, func(cs []compliance.Control, _ []*RecordError) error {
		pages = append(pages, cs)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if *calls != 2 || len(pages) != 2 || len(pages[0]) != 2 || len(pages[1]) != 1 {
		t.Fatalf("%d calls, pages %v", *calls, pages)
	}
	c := pages[0][0]
	if c.ID != 2641 || c.Statement != "Status of the 'PermitRootLogin' setting" || c.Criticality.Value != 3 ||
		len(c.Technologies) != 2 || c.Technologies[1].Rationale != "" || len(c.Frameworks) != 2 || c.Frameworks[1].Reference != "CM-6" ||
		c.Comment != "uses <angle> & ampersand" || !c.Active {
		t.Fatalf("control 2641: %+v", c)
	}
	if pages[0][1].Active || pages[1][0].ID != 9999 || pages[1][0].Category != "" {
		t.Fatalf("controls %+v %+v", pages[0][1], pages[1][0])
	}
}

func TestClassicPostureFixtureAndCutOffPage(t *testing.T) {
	t.Parallel()
	ts, calls := fixtureServer(t, "posture_info_cut.xml", "posture_info.xml")
	var got []*PostureInfoPage
	err := classicClient(t, ts.URL, 1).Classic.PostureInfo(t.Context(), 42, 0, nil, func(p *PostureInfoPage) error {
		got = append(got, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if *calls != 2 || len(got) != 1 || len(got[0].Records) != 2 || len(got[0].Rejects) != 1 {
		t.Fatalf("%d calls, pages %+v: the cut-off page must be fetched again and handed on once", *calls, got)
	}
	a, b := got[0].Records[0], got[0].Records[1]
	if a.ID != 33529705 || a.PolicyID != 42 || a.Host.IP != "10.0.0.5" || a.Host.DNS != "web01.example.com" ||
		a.Technology.Name != "Red Hat Enterprise Linux 8.x" || a.Criticality.Label != "SERIOUS" || a.Status != "Failed" ||
		!a.FirstFailDate.Equal(utc("2021-10-28T10:15:30Z")) || a.Exception == nil || a.Exception.Status != "Approved" ||
		a.Remediation != "Set PermitRootLogin to no" {
		t.Fatalf("record a: %+v", a)
	}
	if string(a.Evidence) != `{"expectedValues":["no","without-password"],"currentValues":["PermitRootLogin yes"]}` ||
		string(a.CauseOfFailure) != `{"missing":["no"],"unexpected":["yes"]}` {
		t.Fatalf("evidence %s, cause %s", a.Evidence, a.CauseOfFailure)
	}
	if b.ID != 33529706 || b.Host.DNS != "" || !b.LastPassDate.IsZero() || b.Evidence != nil || b.Exception != nil || string(b.Extra) != `{"netBios":"WEB02"}` {
		t.Fatalf("record b (empty and missing elements): %+v", b)
	}

	ts2, _ := fixtureServer(t, "posture_info_cut.xml")
	c := classicClient(t, ts2.URL, 1)
	err = c.Classic.PostureInfo(t.Context(), 42, 0, nil, func(*PostureInfoPage) error {
		t.Fatal("a page that never arrives whole was handed on")
		return nil
	})
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "ends inside") {
		t.Fatalf("persistently cut-off page: %v", err)
	}
}

func TestClassicPagingThatDoesNotAdvanceStops(t *testing.T) {
	t.Parallel()
	ts, calls := fixtureServer(t, "control_list_loop.xml")
	err := classicClient(t, ts.URL, 1).Classic.ListControls(t.Context(), url.Values{"id_min": {"5"}},
		func([]compliance.Control, []*RecordError) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "did not advance") || *calls != 1 {
		t.Fatalf("%d calls, error %v", *calls, err)
	}
}

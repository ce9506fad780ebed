package emulator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
)

func shapedEstate(t *testing.T, shuffle, scatter, churn bool) *emulator.Estate {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 6, 1, 40, 15, 9
	cfg.Shuffle, cfg.ScatterIDs, cfg.HostChurn = shuffle, scatter, churn
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return est
}

// records returns every record of every active policy, in stream order.
func records(est *emulator.Estate) []compliance.Posture {
	var out []compliance.Posture
	for _, p := range est.Policies() {
		ids, _ := est.PolicyHostIDs(p.ID, time.Time{})
		est.EachPosture([]emulator.PolicyRequest{{PolicyID: p.ID, HostIDs: ids}}, emulator.StreamOptions{}, func(r *compliance.Posture) bool {
			out = append(out, *r)
			return true
		})
	}
	return out
}

func byID(rs []compliance.Posture) map[int64]compliance.Posture {
	m := make(map[int64]compliance.Posture, len(rs))
	for _, r := range rs {
		m[r.ID] = r
	}
	return m
}

func TestShuffleKeepsEveryRecordInAnotherOrder(t *testing.T) {
	t.Parallel()
	tidy, shuffled := records(shapedEstate(t, false, false, false)), records(shapedEstate(t, true, false, false))
	if len(tidy) != len(shuffled) || len(byID(shuffled)) != len(tidy) {
		t.Fatalf("%d records shuffled (%d distinct), %d tidy", len(shuffled), len(byID(shuffled)), len(tidy))
	}
	want := byID(tidy)
	moved := 0
	for i, r := range shuffled {
		if w, ok := want[r.ID]; !ok || w.Status != r.Status || w.Host != r.Host || w.Instance != r.Instance {
			t.Fatalf("record %d differs when shuffled: %+v, want %+v", r.ID, r, w)
		}
		if tidy[i].ID != r.ID {
			moved++
		}
	}
	if moved < len(tidy)/2 {
		t.Fatalf("only %d of %d records moved", moved, len(tidy))
	}
	if again := records(shapedEstate(t, true, false, false)); !slices.EqualFunc(again, shuffled, func(a, b compliance.Posture) bool { return a.ID == b.ID }) {
		t.Fatal("the shuffled order is not the same twice")
	}
}

func TestScatteredIDsInterleavePoliciesAndStillPage(t *testing.T) {
	t.Parallel()
	est := shapedEstate(t, true, true, false)
	rs := records(est)
	if len(byID(rs)) != len(rs) {
		t.Fatalf("%d distinct ids for %d records", len(byID(rs)), len(rs))
	}
	slices.SortFunc(rs, func(a, b compliance.Posture) int { return int(a.ID - b.ID) })
	switches := 0
	for i := 1; i < len(rs); i++ {
		if rs[i].PolicyID != rs[i-1].PolicyID {
			switches++
		}
	}
	if switches < len(rs)/2 {
		t.Fatalf("in id order the policy changes %d times in %d records: ids are grouped by policy", switches, len(rs))
	}
	// classic id_min paging still lists each record of a policy once
	srv, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	pol := est.Policies()[2].ID
	form := url.Values{"action": {"list"}, "policy_id": {strconv.FormatInt(pol, 10)}, "truncation_limit": {"11"}}
	seen := map[string]bool{}
	for pages := 0; pages < 1000; pages++ {
		body := classicPost(t, ts.URL, form)
		for _, part := range strings.Split(body, "<INFO><ID>")[1:] {
			id := part[:strings.Index(part, "<")]
			if seen[id] {
				t.Fatalf("record %s on two pages", id)
			}
			seen[id] = true
		}
		i := strings.Index(body, "id_min=")
		if i < 0 {
			break
		}
		next := body[i+7:]
		form.Set("id_min", next[:strings.IndexAny(next, "&]")])
	}
	if want := est.Counts(pol).Records; int64(len(seen)) != want {
		t.Fatalf("%d records over all pages, the policy has %d", len(seen), want)
	}
}

func classicPost(t *testing.T, base string, form url.Values) string {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/api/2.0/fo/compliance/posture/info/", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Requested-With", "pcsync test")
	req.SetBasicAuth("pcsync", "emulator")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("classic posture list: %v %d %s", err, resp.StatusCode, b)
	}
	return string(b)
}

func TestHostChurnVariesHostsAndTheNewestScanIsTheHost(t *testing.T) {
	t.Parallel()
	stable, churned := byID(records(shapedEstate(t, true, true, false))), records(shapedEstate(t, true, true, true))
	varied, newest := map[int64]map[string]bool{}, map[int64]compliance.Host{}
	for _, r := range churned {
		h := r.Host
		if varied[h.ID] == nil {
			varied[h.ID] = map[string]bool{}
		}
		varied[h.ID][h.IP+" "+h.DNS+" "+h.ComplianceLastScanDate.String()] = true
		if n, ok := newest[h.ID]; !ok || h.ComplianceLastScanDate.After(n.ComplianceLastScanDate) {
			newest[h.ID] = h
		}
		if s := stable[r.ID]; s.Status != r.Status || s.ControlID != r.ControlID {
			t.Fatalf("record %d changed beyond its host", r.ID)
		}
	}
	many := 0
	for id, v := range varied {
		if len(v) > 1 {
			many++
		}
		if n := newest[id]; n.ComplianceLastScanDate.After(stableHost(stable, id).ComplianceLastScanDate) {
			t.Fatalf("host %d: a rescan newer than the host's own scan", id)
		}
	}
	if many < len(varied)/2 {
		t.Fatalf("only %d of %d hosts vary from record to record", many, len(varied))
	}
}

func stableHost(rs map[int64]compliance.Posture, id int64) compliance.Host {
	for _, r := range rs {
		if r.Host.ID == id {
			return r.Host
		}
	}
	return compliance.Host{}
}

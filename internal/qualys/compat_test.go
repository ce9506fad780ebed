package qualys

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"pcsync/internal/emulator"
)

// The client reads the shapes a real platform may send, old and new alike.

func TestClassicPolicyListDetailsNoneInBothShapes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want []int64
	}{
		{"policy_list_none.xml", []int64{94473, 1627436}},                     // as the documentation says: ID and TITLE
		{"policy_list_id_set.xml", []int64{94473, 1627436, 1627437, 1627438}}, // as Qualys answers: an ID_SET
	} {
		t.Run(tc.file, func(t *testing.T) {
			ts, _ := fixtureServer(t, tc.file)
			got, err := classicClient(t, ts.URL, 1).Classic.ListPolicies(t.Context(), url.Values{"details": {"None"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d policies %+v, want ids %v", len(got), got, tc.want)
			}
			for i, id := range tc.want {
				if got[i].ID != id {
					t.Fatalf("policy %d has id %d, want %d", i, got[i].ID, id)
				}
			}
		})
	}
}

// TestClassicPolicyListFromTheEmulatorInEveryDetail reads the emulator's
// policy list at every level of detail, the DTD's extra elements included.
func TestClassicPolicyListFromTheEmulatorInEveryDetail(t *testing.T) {
	t.Parallel()
	est, base := newEmulator(t, emulator.Options{Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	c := classicClient(t, base, 1)
	for _, details := range []string{"None", "Basic", "All"} {
		got, err := c.Classic.ListPolicies(t.Context(), url.Values{"details": {details}})
		if err != nil {
			t.Fatalf("details=%s: %v", details, err)
		}
		want := est.Policies()
		if len(got) != len(want) {
			t.Fatalf("details=%s: %d policies, want %d", details, len(got), len(want))
		}
		for i := range want {
			full := details != "None"
			if got[i].ID != want[i].ID || (full && (got[i].Title != want[i].Title || got[i].Status != want[i].Status)) {
				t.Fatalf("details=%s: policy %d is %+v, want %+v", details, i, got[i], want[i])
			}
		}
	}
}

// TestConcurrencyRefusalInBothShapes answers 409 code 1960 first (with and
// without the ITEM_LIST Qualys adds), then the list: the client waits and
// gets the list, and with no waits allowed it reports a typed limit error.
func TestConcurrencyRefusalInBothShapes(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"error_1960.xml", "error_1960_bare.xml"} {
		t.Run(file, func(t *testing.T) {
			refusal, err := os.ReadFile(filepath.Join("testdata", "classic", file))
			if err != nil {
				t.Fatal(err)
			}
			list, _ := os.ReadFile(filepath.Join("testdata", "classic", "policy_list.xml"))
			var n atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Concurrency-Limit-Limit", "2")
				if n.Add(1)%2 == 1 {
					w.Header().Set("X-Concurrency-Limit-Running", "2")
					w.WriteHeader(http.StatusConflict)
					w.Write(refusal)
					return
				}
				w.Write(list)
			}))
			defer ts.Close()
			c := classicClient(t, ts.URL, 1)
			if pols, err := c.Classic.ListPolicies(t.Context(), nil); err != nil || len(pols) != 2 {
				t.Fatalf("after a 1960: %d policies, %v", len(pols), err)
			}
			c.opts.MaxRateWaits = 0
			_, err = c.Classic.ListPolicies(t.Context(), nil)
			var rl *RateLimitError
			var api *APIError
			if !errors.As(err, &rl) || !errors.As(err, &api) || api.Code != CodeConcurrencyLimit || api.StatusCode != 409 {
				t.Fatalf("no waits allowed: %v; want a *RateLimitError with code 1960", err)
			}
		})
	}
}

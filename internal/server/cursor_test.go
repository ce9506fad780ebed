package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"testing"
)

// A cursor is the client's to send back: one that was edited (a phase or
// rank the list does not have) is a 400 naming the cursor, never a 500.
func TestEditedCursorsAreRefused(t *testing.T) {
	t.Parallel()
	path := testDB(t)
	forEachServer(t, path, func(t *testing.T, ts *httptest.Server) {
		edited := func(list string, ints []int64, strs ...string) string {
			b, _ := json.Marshal(map[string]any{"l": list, "i": ints, "s": strs})
			return base64.RawURLEncoding.EncodeToString(b)
		}
		for _, url := range []string{
			"/api/v1/changes?cursor=" + edited("changes", []int64{-1, 0}),
			"/api/v1/changes?cursor=" + edited("changes", []int64{3, 0}),
			"/api/v1/changes?cursor=" + edited("changes", []int64{1 << 40, 0}),
			"/api/v1/exceptions?cursor=" + edited("exceptions", []int64{-1, 0}, "2025-01-01T00:00:00Z"),
			"/api/v1/exceptions?cursor=" + edited("exceptions", []int64{2, 0}, "2025-01-01T00:00:00Z"),
		} {
			code, body := get(t, ts.URL+url)
			var e struct {
				Parameter string `json:"parameter"`
			}
			if json.Unmarshal(body, &e); code != 400 || e.Parameter != "cursor" {
				t.Errorf("%s: %d %s; want 400 naming the cursor", url, code, body)
			}
		}
	})
}

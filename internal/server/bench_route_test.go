package server_test

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"pcsync/internal/server"
	"pcsync/internal/store/sqlite"
)

// BenchmarkRoute times single requests, one at a time, to the routes in
// PCSYNC_BENCH_URLS (comma-separated, e.g. "/,/controls/1400") over the
// SQLite database PCSYNC_BENCH_DB, for instance the one `pcsync bench
// serve --dir` keeps: what a route costs with no other load, and (with
// -cpuprofile) where that goes. BENCHMARKS.md has the procedure. Without
// the two variables there is nothing to time.
func BenchmarkRoute(b *testing.B) {
	path, urls := os.Getenv("PCSYNC_BENCH_DB"), os.Getenv("PCSYNC_BENCH_URLS")
	if path == "" || urls == "" {
		b.Skip("set PCSYNC_BENCH_DB and PCSYNC_BENCH_URLS")
	}
	rd, err := sqlite.OpenReader(b.Context(), path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer rd.Close()
	h := server.New(server.Options{Reader: rd})
	for _, u := range strings.Split(urls, ",") {
		b.Run(strings.ReplaceAll(u, "/", "|"), func(b *testing.B) {
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest("GET", u, nil))
				if w.Code != 200 {
					b.Fatalf("GET %s: %d %s", u, w.Code, w.Body.String())
				}
			}
		})
	}
}

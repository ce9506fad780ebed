package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"pcsync/internal/server"
	"pcsync/internal/store/sqlite"
)

// While every turn is taken, a page waits for one (and a client that gives
// up does not keep a turn); health checks, metrics, static files and
// whole-list streams do not wait; a turn given back lets the waiting page
// through.
func TestRequestsWaitTheirTurn(t *testing.T) {
	t.Parallel()
	rd, err := sqlite.OpenReader(t.Context(), testDB(t), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	srv := server.New(server.Options{Reader: rd, Concurrency: 1})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	fetch := func(ctx context.Context, path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	release := server.TakeTurns(srv)
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	if code, err := fetch(short, "/api/v1/summary"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("summary with every turn taken: %d, %v; want it to wait", code, err)
	}
	cancel()
	for _, path := range []string{"/healthz", "/metrics", "/static/style.css", "/api/v1/postures?format=csv", "/api/v1/hosts?format=ndjson"} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		if code, err := fetch(ctx, path); code != http.StatusOK {
			t.Errorf("%s with every turn taken: %d, %v; want 200 at once", path, code, err)
		}
		cancel()
	}
	done := make(chan int)
	go func() {
		code, _ := fetch(t.Context(), "/")
		done <- code
	}()
	select {
	case code := <-done:
		t.Fatalf("the overview answered %d with every turn taken", code)
	case <-time.After(200 * time.Millisecond):
	}
	release()
	select {
	case code := <-done:
		if code != http.StatusOK {
			t.Errorf("the overview after its turn came: %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the overview still waits after the turns were given back (a client that gave up kept one?)")
	}
}

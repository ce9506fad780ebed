package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"pcsync/internal/app"
	"pcsync/internal/emulator"
	"pcsync/internal/server"
)

// copyDB copies the shared test database for a test that writes to it.
func copyDB(t *testing.T) string {
	t.Helper()
	src := testDB(t)
	dst := filepath.Join(t.TempDir(), "pcsync.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(src + suffix)
		if err != nil && suffix == "" {
			t.Fatal(err)
		}
		if err == nil {
			os.WriteFile(dst+suffix, b, 0o600)
		}
	}
	return dst
}

// syncSlowly starts a full sync of the test estate into path from an
// emulator that trickles its streams, and returns a channel of its exit code.
func syncSlowly(t *testing.T, path string, trickle time.Duration) <-chan int {
	t.Helper()
	slow, err := emulator.New(emulator.Options{Estate: built.emu.Estate(), Password: "emulator", RateCalls: -1,
		Faults: emulator.Faults{Trickle: trickle}})
	if err != nil {
		t.Fatal(err)
	}
	es := httptest.NewServer(slow)
	t.Cleanup(es.Close)
	creds := filepath.Join(t.TempDir(), "pcsync.yaml")
	os.WriteFile(creds, []byte("qualys:\n  username: pcsync\n  password: emulator\n"), 0o600)
	done := make(chan int, 1)
	go func() {
		var out bytes.Buffer
		done <- app.Main(context.Background(), []string{"sync", "--config", creds, "--gateway", es.URL, "--db", path, "--full",
			"--hosts-per-request", "5", "--log-level", "error"}, app.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
	}()
	return done
}

// Walking a list page by page while a sync writes neither repeats a row nor
// misses one that was there from the start to the end.
func TestPagesWhileASyncWrites(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	current := func() map[int64]bool {
		m := map[int64]bool{}
		for _, r := range db.rows(`SELECT id FROM postures WHERE stale_run IS NULL`) {
			m[r[0].(int64)] = true
		}
		return m
	}
	before := current()
	done := syncSlowly(t, path, 2*time.Millisecond)
	var walks [][]int64
	for running := true; running; {
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("the sync exited %d", code)
			}
			running = false
		default:
		}
		walks = append(walks, postureIDs(t, ts.URL+"/api/v1/postures", 29))
	}
	after := current()
	if len(walks) < 2 {
		t.Fatalf("only %d walks while the sync wrote", len(walks))
	}
	for i, ids := range walks {
		seen := map[int64]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("walk %d repeats posture %d", i, id)
			}
			seen[id] = true
		}
		for id := range before {
			if after[id] && !seen[id] {
				t.Fatalf("walk %d misses posture %d, current throughout", i, id)
			}
		}
	}
}

// A bounded load on loopback while a sync writes: every request answers.
func TestLoadWhileASyncWrites(t *testing.T) {
	t.Parallel()
	path := copyDB(t)
	db, ts := openSQL(t, path), newServer(t, path, server.Options{})
	policy, control, host := db.int(`SELECT min(policy_id) FROM postures`), db.int(`SELECT min(control_id) FROM postures`), db.int(`SELECT min(host_id) FROM postures`)
	urls := []string{"/api/v1/summary", "/api/v1/policies", fmt.Sprintf("/api/v1/policies/%d", policy),
		fmt.Sprintf("/api/v1/policies/%d/controls", policy), fmt.Sprintf("/api/v1/controls/%d", control), "/api/v1/postures?limit=200",
		fmt.Sprintf("/api/v1/postures?policy=%d&status=Failed", policy), "/api/v1/hosts", fmt.Sprintf("/api/v1/hosts/%d", host),
		"/api/v1/frameworks", "/api/v1/runs", "/api/v1/changes", "/api/v1/trend", "/", "/metrics", "/healthz"}
	done := syncSlowly(t, path, time.Millisecond)
	const clients, requests = 8, 40
	var wg sync.WaitGroup
	errs := make(chan string, clients*requests)
	for c := range clients {
		wg.Go(func() {
			for i := range requests {
				url := ts.URL + urls[(c*requests+i)%len(urls)]
				resp, err := http.Get(url)
				if err != nil {
					errs <- err.Error()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Sprintf("%s: %d", url, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if code := <-done; code != 0 {
		t.Fatalf("the sync exited %d", code)
	}
}

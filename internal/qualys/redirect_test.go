package qualys

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pcsync/internal/emulator"
)

// redirectingGateway serves the emulator over TLS, except that requests
// whose path has the prefix redirect answer code towards target+path.
func redirectingGateway(t *testing.T, prefix string, code int, target string) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	est, err := emulator.NewEstate(emulator.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	emu, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1, Password: "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			http.Redirect(w, r, target+r.URL.RequestURI(), code)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return ts, pool
}

// listener counts every request that reaches it.
func listener(t *testing.T, tls bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ts := httptest.NewUnstartedServer(h)
	if tls {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts, &hits
}

func TestCredentialsNeverFollowARedirectThatLeavesTheOrigin(t *testing.T) {
	t.Parallel()
	calls := []struct {
		name, prefix string
		call         func(*Client) error
	}{
		{"gateway login", "/auth", func(c *Client) error { _, _, err := c.PCRS.ListPolicies(t.Context(), nil); return err }},
		{"PCRS call", "/pcrs/", func(c *Client) error { _, _, err := c.PCRS.ListPolicies(t.Context(), nil); return err }},
		{"classic call", "/api/", func(c *Client) error { _, err := c.Classic.ListPolicies(t.Context(), nil); return err }},
	}
	targets := []struct {
		name string
		tls  bool
	}{{"plain http", false}, {"https on another port", true}}
	for _, call := range calls {
		for _, target := range targets {
			for _, code := range []int{301, 302, 307, 308} {
				t.Run(fmt.Sprintf("%s/%s/%d", call.name, target.name, code), func(t *testing.T) {
					t.Parallel()
					other, hits := listener(t, target.tls)
					gw, pool := redirectingGateway(t, call.prefix, code, other.URL)
					c, err := NewClient(complete(Options{GatewayURL: gw.URL, APIURL: gw.URL, Username: "pcsync", Password: "s3cr3t",
						RootCAs: pool, Backoff: func(int) time.Duration { return time.Millisecond }}))
					if err != nil {
						t.Fatal(err)
					}
					err = call.call(c)
					var re *RedirectError
					if !errors.As(err, &re) {
						t.Fatalf("error %v, want a *RedirectError", err)
					}
					if msg := err.Error(); !strings.Contains(msg, gw.URL) || !strings.Contains(msg, other.URL) {
						t.Errorf("error %q does not name both %s and %s", msg, gw.URL, other.URL)
					}
					if n := hits.Load(); n != 0 {
						t.Fatalf("the other listener received %d requests, want none", n)
					}
				})
			}
		}
	}
}

func TestSameOriginRedirectsAreFollowedWhenTheRequestRepeatsAsSent(t *testing.T) {
	t.Parallel()
	for _, code := range []int{301, 302, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			// API calls are redirected once to /again/..., which serves them.
			est, err := emulator.NewEstate(emulator.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			emu, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1, Password: "s3cr3t"})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if rest, ok := strings.CutPrefix(r.URL.Path, "/again"); ok {
					r.URL.Path = rest
				} else if r.URL.Path != "/auth" {
					http.Redirect(w, r, "/again"+r.URL.RequestURI(), code)
					return
				}
				emu.ServeHTTP(w, r)
			}))
			t.Cleanup(ts.Close)
			pool := x509.NewCertPool()
			pool.AddCert(ts.Certificate())
			c, err := NewClient(complete(Options{GatewayURL: ts.URL, APIURL: ts.URL, Username: "pcsync", Password: "s3cr3t", RootCAs: pool}))
			if err != nil {
				t.Fatal(err)
			}
			// GET: followed for every code.
			if _, _, err := c.PCRS.ListPolicies(t.Context(), nil); err != nil {
				t.Fatalf("a same-origin %d redirect of a GET failed: %v", code, err)
			}
			// POST with a body: followed for 307 and 308 (the body is
			// replayed); 301 and 302 would turn it into a GET and are refused.
			_, err = c.Classic.ListPolicies(t.Context(), nil)
			var re *RedirectError
			switch {
			case code >= 307 && err != nil:
				t.Fatalf("a same-origin %d redirect of a POST failed: %v", code, err)
			case code < 307 && !errors.As(err, &re):
				t.Fatalf("a %d redirect of a POST: error %v, want a *RedirectError", code, err)
			}
		})
	}
}

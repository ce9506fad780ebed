package qualys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"time"
)

// Retry is a CheckRetry's verdict on a failed call.
type Retry int

// The verdicts.
const (
	// RetryNever gives up at once: bad credentials, a bad request, a
	// certificate that does not verify.
	RetryNever Retry = iota
	// RetryTransient tries again after Backoff(n), at most MaxRetries
	// times: network errors, timeouts, 5xx.
	RetryTransient
	// RetryLimited waits as long as Qualys said (Retry-After,
	// X-RateLimit-ToWait-Sec; else Backoff(n)) with every worker held
	// back, at most MaxRateWaits times: HTTP 429, and 409 codes 1960/1965.
	RetryLimited
	// RetryLogin logs in to the gateway again and retries, at most twice
	// per call: a token the gateway no longer accepts (HTTP 401).
	RetryLogin
)

// CheckRetry classifies the error of a failed call. The error comes from
// checkResponse (typed Qualys errors) or from the transport.
type CheckRetry func(ctx context.Context, err error) Retry

// Backoff returns how long to wait before retry number attempt (1-based).
type Backoff func(attempt int) time.Duration

// maxLogins bounds the logins one call may cause after 401 answers.
const maxLogins = 2

// DefaultCheckRetry is the policy for both APIs: limits are waited out,
// a refused gateway token is renewed, network errors and server errors are
// retried, and everything else (a refused login, a bad request, a TLS
// certificate that does not verify, a host name that does not resolve) is
// final.
func DefaultCheckRetry(ctx context.Context, err error) Retry {
	var rl *RateLimitError
	var api *APIError
	var auth *AuthError
	var lim *LimitError
	switch {
	case ctx.Err() != nil, errors.As(err, &auth), errors.As(err, &lim), permanent(err):
		return RetryNever
	case errors.As(err, &rl):
		return RetryLimited
	case errors.Is(err, ErrUnauthorized):
		return RetryLogin
	case errors.As(err, &api):
		if api.Temporary() {
			return RetryTransient
		}
		return RetryNever
	}
	return RetryTransient
}

// DefaultBackoff is exponential from 1 s, capped at 60 s, with full jitter
// so that workers that failed together do not retry together.
func DefaultBackoff(attempt int) time.Duration {
	return jitter(time.Second, 60*time.Second, attempt)
}

func jitter(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}

// permanent reports transport errors that retrying cannot cure: a TLS
// certificate that does not verify, a host name that does not resolve, a
// redirect pcsync refuses to follow.
func permanent(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var dns *net.DNSError
	var re *RedirectError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) ||
		(errors.As(err, &dns) && dns.IsNotFound) || errors.As(err, &re)
}

// call is one request as the retry loop sees it; the gateway, the classic
// API and the login each fill in their own parts.
type call struct {
	name string // "GET /pcrs/1.0/posture/hostids", for logs
	// admit waits for the call's budget or slot; release gives the slot back.
	admit func(ctx context.Context) (release func(), err error)
	// pause holds every worker of the API back for d after a limit answer.
	pause func(d time.Duration)
	// send makes one attempt and returns a 2xx answer or a typed error.
	send func(ctx context.Context) (*http.Response, error)
	// relogin forgets the token a 401 refused (nil: the API has none).
	relogin func()
}

// do runs k under the client's retry policy. The answer's body stops the
// idle clock and frees the call's slot when closed.
func (c *Client) do(ctx context.Context, k *call) (*http.Response, error) {
	var retries, waits, logins int
	for {
		release := func() {}
		if k.admit != nil {
			r, err := k.admit(ctx)
			if err != nil {
				return nil, err
			}
			if r != nil {
				release = r
			}
		}
		reqCtx, cancel := context.WithCancel(ctx)
		resp, err := k.send(reqCtx)
		if err == nil {
			resp.Body = &releaseBody{ReadCloser: newIdleBody(resp.Body, c.opts.IdleTimeout, cancel), release: release}
			return resp, nil
		}
		cancel()
		release()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var f *final
		if errors.As(err, &f) {
			return nil, f.err
		}
		var wait time.Duration
		switch c.opts.CheckRetry(ctx, err) {
		case RetryLogin:
			if k.relogin == nil || logins >= maxLogins {
				return nil, err
			}
			logins++
			c.log.Info("token refused, logging in again", "endpoint", k.name, "err", err)
			k.relogin()
			continue
		case RetryLimited:
			if waits++; waits > c.opts.MaxRateWaits {
				return nil, fmt.Errorf("limits still exceeded after %d waits: %w", c.opts.MaxRateWaits, err)
			}
			c.throttles.Add(1)
			if wait = retryAfterOf(err); wait <= 0 {
				wait = c.opts.Backoff(waits)
			}
			c.log.Warn("limit reached, waiting", "endpoint", k.name, "wait", wait.String(), "err", err)
			if k.pause != nil {
				k.pause(wait)
				continue
			}
		case RetryTransient:
			if retries++; retries > c.opts.MaxRetries {
				return nil, fmt.Errorf("giving up after %d retries: %w", c.opts.MaxRetries, err)
			}
			c.retries.Add(1)
			wait = c.opts.Backoff(retries)
			c.log.Warn("request failed, retrying", "endpoint", k.name, "attempt", retries, "wait", wait.String(), "err", err)
		default:
			return nil, err
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryAfterOf is how long a limit answer asked to wait, 0 if it did not say.
func retryAfterOf(err error) time.Duration {
	var rl *RateLimitError
	if errors.As(err, &rl) {
		return rl.RetryAfter
	}
	return 0
}

// final is an error that was already retried as far as the policy allows.
type final struct{ err error }

func (f *final) Error() string { return f.err.Error() }
func (f *final) Unwrap() error { return f.err }

package qualys

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokens holds the gateway JWT and renews it before it expires. One login
// serves every worker; a worker that gets a 401 invalidates the token it
// used, and the next caller logs in again.
type tokens struct {
	c       *Client
	mu      sync.Mutex
	token   string
	renewAt time.Time
	logins  int
}

// Token returns a token that is valid for a while yet, logging in if needed.
func (t *tokens) Token(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token != "" && time.Now().Before(t.renewAt) {
		return t.token, nil
	}
	tok, ttl, err := t.c.login(ctx)
	if err != nil {
		return "", err
	}
	t.logins++
	t.token = tok
	t.renewAt = time.Now().Add(ttl - renewMargin(ttl))
	return tok, nil
}

// Invalidate forgets tok if it is still the current token.
func (t *tokens) Invalidate(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.token == tok {
		t.token = ""
	}
}

// renewMargin is how long before expiry a token is replaced: a tenth of
// its life, between 5 s and 10 min.
func renewMargin(ttl time.Duration) time.Duration {
	m := ttl / 10
	return min(max(m, 5*time.Second), 10*time.Minute)
}

// login posts the credentials to the gateway's /auth and returns the JWT and
// how long it lives (from its exp and iat claims, or Options.TokenTTL). The
// auth API is outside the rate budget; outages are retried as any call.
func (c *Client) login(ctx context.Context) (string, time.Duration, error) {
	u := c.gateway.JoinPath("auth")
	form := url.Values{"username": {c.opts.Username}, "password": {c.opts.Password}, "token": {"true"}}.Encode()
	resp, err := c.do(ctx, &call{name: "POST /auth", send: func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", c.opts.UserAgent)
		resp, err := c.send(req, "POST /auth", nil)
		var api *APIError
		if errors.As(err, &api) && (api.StatusCode == http.StatusUnauthorized || api.StatusCode == http.StatusForbidden) {
			return nil, &AuthError{URL: u.Redacted(), StatusCode: api.StatusCode, Text: api.Text}
		}
		return resp, err
	}})
	if err != nil {
		var auth *AuthError
		if errors.As(err, &auth) {
			return "", 0, err
		}
		return "", 0, fmt.Errorf("login to %s: %w", u.Redacted(), err)
	}
	body, err := readLimited(resp.Body, 1<<20)
	resp.Body.Close()
	if err != nil {
		return "", 0, fmt.Errorf("login to %s: %w", u.Redacted(), err)
	}
	tok := strings.TrimSpace(string(body))
	if tok == "" {
		return "", 0, fmt.Errorf("login to %s: the gateway answered with an empty token", u.Redacted())
	}
	return tok, c.tokenTTL(tok), nil
}

// tokenTTL reads the token's lifetime from its claims without verifying its
// signature (pcsync is not the audience that checks it); when the claims do
// not say, Options.TokenTTL is assumed.
func (c *Client) tokenTTL(tok string) time.Duration {
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err == nil {
		exp, errE := claims.GetExpirationTime()
		iat, errI := claims.GetIssuedAt()
		if errE == nil && exp != nil {
			if errI == nil && iat != nil && exp.After(iat.Time) {
				return exp.Sub(iat.Time) // immune to clock skew between us and Qualys
			}
			if d := time.Until(exp.Time); d > 0 {
				return d
			}
		}
	}
	return c.opts.TokenTTL
}

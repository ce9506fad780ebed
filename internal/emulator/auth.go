package emulator

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// handleAuth is POST /auth: form username and password. Qualys's
// documentation adds token=true, qualysdk also sends permissions=true, and
// Qualys's own Splunk add-on sends permissions=true without token=true; the
// gateway answers all of them alike, 201 with the raw JWT as its body.
func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	if f := s.opts.Faults.Status5xx; f > 0 && s.take("5xx:auth", f) {
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "malformed form body"})
		return
	}
	user, pass := r.PostForm.Get("username"), r.PostForm.Get("password")
	okUser := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1
	okPass := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Password)) == 1
	if !okUser || !okPass {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"authentication_exceptions": [][]string{{
			"Authentication Failure: 1 errors, 0 successes:authenticationFailure.InvalidCredentialsException"}}})
		return
	}
	now := s.opts.Now()
	claims := jwt.MapClaims{
		"sub": user, "iss": "qas", "aud": "qas", "iat": now.Unix(), "exp": now.Add(s.opts.TokenTTL).Unix(),
		"portalUserId": 1234567, "qwebUserId": 7654321, "usertype": "MANAGER",
		"credentialType": "PASSWORD", "modulesAllowed": []string{"PC", "SCA", "VM"},
		"ipAddress": clientIP(r),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS512, claims).SignedString(s.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(tok))
}

func clientIP(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

// authorize checks the bearer token of a gateway request and answers 401
// the way Qualys does when it is missing, invalid or expired.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	tok := strings.TrimSpace(r.Header.Get("Authorization"))
	if after, ok := strings.CutPrefix(tok, "Bearer "); ok {
		tok = strings.TrimSpace(after)
	} // Qualys samples sometimes omit "Bearer "; accept the bare token too
	if tok == "" {
		s.unauthorized(w, "Not authenticated")
		return false
	}
	_, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS512.Alg()}),
		jwt.WithTimeFunc(s.opts.Now), jwt.WithExpirationRequired(), jwt.WithLeeway(0*time.Second))
	switch {
	case err == nil:
		return true
	case errors.Is(err, jwt.ErrTokenExpired):
		s.unauthorized(w, "JWT expired")
	default:
		s.unauthorized(w, "Not authenticated")
	}
	return false
}

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusUnauthorized, map[string]any{"status": 401, "error": "Unauthorized", "message": msg})
}

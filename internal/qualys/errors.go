package qualys

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// ErrUnauthorized is wrapped by errors for HTTP 401 answers: a token Qualys
// no longer accepts (pcsync logs in again) or credentials it refuses.
var ErrUnauthorized = errors.New("unauthorized")

// APIError is a Qualys answer other than success: its HTTP status and, when
// the body carries them, the Qualys error code and text.
type APIError struct {
	Endpoint   string // e.g. "GET /pcrs/1.0/posture/hostids"
	StatusCode int
	Code       int    // Qualys error code (SIMPLE_RETURN CODE, or the JSON "code"), 0 if none
	Text       string // Qualys's message, or the start of the body
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: HTTP %d", e.Endpoint, e.StatusCode)
	if e.Code != 0 {
		fmt.Fprintf(&b, ", code %d", e.Code)
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": %s", e.Text)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrUnauthorized) true for 401 answers.
func (e *APIError) Is(target error) bool {
	return target == ErrUnauthorized && e.StatusCode == http.StatusUnauthorized
}

// Temporary reports whether the same request may succeed later: server
// errors and timeouts, not bad requests.
func (e *APIError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout
}

// RateLimitError is an answer saying an API limit is reached: PCRS's HTTP
// 429, or the classic API's 409 with code 1960 (concurrency) or 1965
// (rate). RetryAfter is how long Qualys asked to wait (Retry-After,
// X-RateLimit-ToWait-Sec), 0 if it did not say.
type RateLimitError struct {
	APIError
	RetryAfter time.Duration
}

// Unwrap lets errors.As find the *APIError (status, code, text).
func (e *RateLimitError) Unwrap() error { return &e.APIError }

// LimitError is an answer pcsync refuses because it exceeds one of its own
// bounds (a record, an XML element, a decompression ratio): hostile or
// corrupt data that fetching again would only repeat. Limit names the
// bound and Max its value.
type LimitError struct {
	What  string // what exceeded it: "posture record 12", "XML element"
	Limit string // the bound's name, e.g. "qualys.MaxRecordBytes"
	Max   int64
	Unit  string // "bytes", another unit, or "" for a count
}

func (e *LimitError) Error() string {
	max := strconv.FormatInt(e.Max, 10)
	switch e.Unit {
	case "bytes":
		max = humanBytes(e.Max)
	case "":
	default:
		max += " " + e.Unit
	}
	return fmt.Sprintf("%s is larger than the limit of %s (%s); pcsync refuses it rather than hold it in memory", e.What, max, e.Limit)
}

func humanBytes(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s (retry after %s)", e.APIError.Error(), e.RetryAfter)
	}
	return e.APIError.Error()
}

// AuthError is a login Qualys refused: wrong user name or password, or an
// account without API access. Retrying does not help.
type AuthError struct {
	URL        string
	StatusCode int
	Text       string
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("login to %s refused (HTTP %d)", e.URL, e.StatusCode)
	if e.Text != "" {
		msg += ": " + e.Text
	}
	return msg + "; check the user name and password"
}

const maxErrorBody = 64 << 10

// checkResponse turns a non-2xx answer into a typed error, reading at most
// 64 KiB of its body. It is the one place where Qualys errors are classified.
func checkResponse(endpoint string, resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := APIError{Endpoint: endpoint, StatusCode: resp.StatusCode}
	e.Code, e.Text = errorDetail(body)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &RateLimitError{APIError: e, RetryAfter: retryAfter(resp.Header, time.Now())}
	case resp.StatusCode == http.StatusConflict && (e.Code == CodeConcurrencyLimit || e.Code == CodeRateLimit):
		var wait time.Duration
		if rl := parseRateLimit(resp.Header); rl.ToWaitSec > 0 {
			wait = time.Duration(rl.ToWaitSec) * time.Second
		}
		return &RateLimitError{APIError: e, RetryAfter: wait}
	}
	return &e
}

// errorDetail extracts a code and message from the error bodies Qualys
// sends: {"message": ..}, {"status":..,"error":..,"message":..},
// [{"response":{"code":..,"text":..}}], or anything else (shown trimmed).
func errorDetail(body []byte) (int, string) {
	text := strings.TrimSpace(string(body))
	if v, err := fastjson.ParseBytes(body); err == nil {
		if a, err := v.Array(); err == nil && len(a) > 0 {
			if r := a[0].Get("response"); r != nil {
				return r.GetInt("code"), string(r.GetStringBytes("text"))
			}
		}
		if m := v.GetStringBytes("message"); m != nil {
			return v.GetInt("code"), string(m)
		}
		if m := v.GetStringBytes("error"); m != nil {
			return v.GetInt("code"), string(m)
		}
	}
	if code, msg, ok := simpleReturn(body); ok {
		return code, msg
	}
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return 0, text
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

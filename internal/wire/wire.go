// Package wire is pcsync's record of the HTTP conversation with Qualys:
// `pcsync sync --capture DIR` writes every request and answer of a run to
// DIR as it streams, and `pcsync emulate --replay DIR` serves them back, so
// a problem seen against a real subscription can be reproduced, attached
// to a bug report and turned into a test.
//
// A capture directory holds, for exchange number N (six digits):
//
//	N.json  method, URL, status, headers, and how the answer's body ended
//	N.req   the request body, as sent
//	N.resp  the answer's body, as received (gzip stays gzip)
//
// Secrets never reach the disk: the password, every token the gateway
// issued, the Authorization and Cookie headers and Set-Cookie answers are
// replaced by Marker before anything is written. N.json is written when the
// answer's headers arrive and again when its body ends, so a capture cut
// short by a crash is still readable.
package wire

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Marker replaces every secret in a capture.
const Marker = "PCSYNC-REDACTED"

// Exchange is one request and its answer, as N.json records it.
type Exchange struct {
	Seq    int         `json:"seq"`
	Method string      `json:"method"`
	URL    string      `json:"url"`
	Header http.Header `json:"requestHeader"`
	// Key is what replay matches a request on: method, path, parameters
	// (query and form, secrets as Marker) and a digest of any other body.
	Key string `json:"key"`
	// Error is a transport error that left the request without an answer.
	Error          string      `json:"error,omitempty"`
	Status         int         `json:"status,omitempty"`
	ResponseHeader http.Header `json:"responseHeader,omitempty"`
	// BodyBytes is how much of the answer's body arrived; Complete whether
	// it arrived to its end (false: the connection broke, or the client
	// abandoned it); BodyError what ended it early.
	BodyBytes int64  `json:"bodyBytes"`
	Complete  bool   `json:"complete"`
	BodyError string `json:"bodyError,omitempty"`
}

// secretHeaders are replaced by Marker wherever they appear.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"}

// credentialParams are left out of replay keys (as Marker): a replay
// checks no credentials, so it is run with any.
var credentialParams = []string{"username", "password"}

// redactHeader returns a copy of h with the secret headers replaced.
func redactHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range secretHeaders {
		if vs := out.Values(k); len(vs) > 0 {
			out[http.CanonicalHeaderKey(k)] = []string{Marker}
		}
	}
	return out
}

// RequestKey is the replay key of a request whose body is body: method,
// path, the query and form parameters in order (credentials as Marker), and
// the SHA-256 of a body that is not a form.
func RequestKey(method string, u *url.URL, contentType string, body []byte) string {
	params := u.Query()
	digest := ""
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, vs := range form {
				params[k] = append(params[k], vs...)
			}
		} else {
			digest = sum(body)
		}
	} else if len(body) > 0 {
		digest = sum(body)
	}
	for _, k := range credentialParams {
		if _, ok := params[k]; ok {
			params[k] = []string{Marker}
		}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vs := append([]string(nil), params[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	key := method + " " + u.EscapedPath()
	if len(pairs) > 0 {
		key += "?" + strings.Join(pairs, "&")
	}
	if digest != "" {
		key += " body-sha256=" + digest
	}
	return key
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

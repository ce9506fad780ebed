// Package qualys is pcsync's client for Qualys Policy Compliance: the
// gateway's posture streaming API (PCRS) and the classic XML API. It
// returns compliance types, or streams of them, and knows nothing of
// storage.
//
// # Authentication
//
// The gateway takes a JWT from POST /auth (form username, password,
// token=true), sent as "Authorization: Bearer". One token serves every
// worker; it is renewed before it expires (its exp claim, else
// Options.TokenTTL) and whenever the gateway answers 401. The classic API
// takes HTTP Basic credentials and an X-Requested-With header on every call.
// Credentials never appear in errors or logs.
//
// # Pagination and streaming
//
// PCRS has no pages: hostids returns one array per call (up to ten
// policies), and postureInfo one long JSON array, gzip or plain, which
// PostureStream splits and decodes record by record while it downloads.
// Classic lists are paged by truncation_limit: a WARNING with code 1980
// carries the URL of the next page, whose id_min pcsync follows until no
// WARNING comes. Every XML answer is read token by token.
//
// # Limits
//
// PCRS allows a number of calls per window per endpoint (25 per 60 s by
// default); every worker draws from one budget per endpoint, and a 429
// stops them all for its Retry-After. The classic API announces its limits
// in X-RateLimit-* and X-Concurrency-Limit-* headers on every answer; the
// client adopts the announced concurrency and waits X-RateLimit-ToWait-Sec
// when the budget is spent. pcsync's own bounds (MaxRecordBytes, the XML
// element and nesting bounds, the gzip expansion ratio) refuse hostile or
// corrupt answers with a *LimitError instead of holding them in memory.
//
// # Retries
//
// One retry policy, expressed as values in Options (MaxRetries,
// MaxRateWaits, CheckRetry, Backoff, after go-retryablehttp), serves both
// APIs and the login: CheckRetry sorts a failure into never (bad
// credentials, bad requests, certificates), transient (network errors,
// 5xx: Backoff, at most MaxRetries), limited (429, 409 codes 1960/1965:
// the wait Qualys names, at most MaxRateWaits) or login (401 on the
// gateway: at most two new logins per call). A posture stream that breaks
// off after records have flowed is not retried here: the caller alone
// knows which records it has kept.
//
// # Errors
//
// checkResponse is the one place answers become errors: *APIError (status,
// Qualys code and text, from JSON or SIMPLE_RETURN bodies), *RateLimitError,
// *AuthError; stream problems are ErrTruncated, *SyntaxError, *RecordError
// and *LimitError. Callers use errors.Is and errors.As.
package qualys

package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"text/tabwriter"

	"pcsync/internal/qualys"
)

// report prints the table, then one line per failure, and picks the exit
// code: 3 when a needed check met refused credentials, 4 when another
// needed check failed.
func (ch *checker) report(io IOStreams) error {
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT")
	for _, r := range ch.rows {
		fmt.Fprintf(tw, "%s\t%s\n", r.name, r.result)
	}
	tw.Flush()
	code, failed := ExitOK, 0
	for _, r := range ch.rows {
		if r.problem == "" {
			continue
		}
		tag := "problem"
		if !r.needed {
			tag = "note"
		}
		if io.console != nil && io.console.json {
			io.say(map[bool]slog.Level{true: slog.LevelError, false: slog.LevelWarn}[r.needed], "", tag+": "+r.name+": "+r.problem)
		} else {
			fmt.Fprintf(io.ErrOut, "pcsync check: %s: %s: %s\n", tag, r.name, r.problem)
		}
		if !r.needed {
			continue
		}
		failed++
		if r.auth {
			code = ExitAuth
		} else if code == ExitOK {
			code = ExitAPI
		}
	}
	if code == ExitOK {
		return nil
	}
	what := "checks a sync needs failed"
	if failed == 1 {
		what = "check a sync needs failed"
	}
	return withCode(code, fmt.Errorf("%d %s; see the lines above", failed, what))
}

// explain turns the error of a check against base into one line saying
// what is wrong and what to do.
func explain(base string, err error) string {
	var auth *qualys.AuthError
	var rl *qualys.RateLimitError
	var api *qualys.APIError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &auth):
		return fmt.Sprintf("%s refused the credentials (HTTP %d): check QUALYS_USERNAME and QUALYS_PASSWORD, and that the user may use the API", base, auth.StatusCode)
	case errors.As(err, &rl):
		return limitAdvice(base, rl)
	case errors.As(err, &api) && api.StatusCode == http.StatusForbidden:
		if api.Code != 0 {
			return fmt.Sprintf("the classic API refused this user: API access is not enabled for it in Qualys (HTTP 403, code %d: %s); ask your Qualys administrator to enable it", api.Code, api.Text)
		}
		return fmt.Sprintf("the gateway refused this user (HTTP 403: %s): Policy Compliance or its posture streaming API is not enabled for this subscription or user in Qualys", api.Text)
	case errors.As(err, &api) && api.StatusCode == http.StatusNotFound:
		return fmt.Sprintf("%s answered 404 for %s: this URL is not that Qualys API; check --gateway, --api or --platform", base, api.Endpoint)
	case errors.As(err, &api) && api.StatusCode >= 500:
		return fmt.Sprintf("%s answered HTTP %d (%s): Qualys is unavailable or under maintenance; try again later", base, api.StatusCode, api.Text)
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn):
		return fmt.Sprintf("the TLS certificate of %s does not verify (%v): for a private CA or an emulator give --ca-cert FILE", base, err)
	case errors.As(err, &dns) && dns.IsNotFound:
		return fmt.Sprintf("the host name of %s does not resolve: check --gateway, --api or --platform", base)
	case errors.As(err, &op):
		return fmt.Sprintf("cannot reach %s (%v): check the URL, the network, a proxy (HTTPS_PROXY) or a firewall", base, op.Err)
	}
	return err.Error()
}

// limitAdvice explains a limit answer.
func limitAdvice(base string, rl *qualys.RateLimitError) string {
	wait := "a while"
	if rl.RetryAfter > 0 {
		wait = rl.RetryAfter.String()
	}
	switch rl.Code {
	case qualys.CodeConcurrencyLimit:
		return fmt.Sprintf("the classic API's concurrency limit is taken by other calls of this subscription (code 1960: %s); a sync waits for them, but other jobs compete with it", rl.Text)
	case qualys.CodeRateLimit:
		return fmt.Sprintf("the classic API's rate limit is spent (code 1965: %s): a sync now would wait %s first", rl.Text, wait)
	}
	return fmt.Sprintf("%s's rate limit is spent (HTTP %d): a sync now would wait %s first", base, rl.StatusCode, wait)
}

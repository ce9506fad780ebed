package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"pcsync/internal/config"
	"pcsync/internal/emulator"
	"pcsync/internal/outfile"
)

// estateFlags size the generated estate (emulate, demo and bench share them).
type estateFlags struct {
	cfg   emulator.Config
	epoch string
}

func (e *estateFlags) register(f *pflag.FlagSet, def emulator.Config) {
	e.cfg = def
	f.Int64Var(&e.cfg.Seed, "seed", def.Seed, "seed of the generated estate (same seed, same data)")
	f.IntVar(&e.cfg.Policies, "policies", def.Policies, "active policies")
	f.IntVar(&e.cfg.InactivePolicies, "inactive-policies", def.InactivePolicies, "extra policies listed as inactive")
	f.IntVar(&e.cfg.Hosts, "hosts", def.Hosts, "hosts in the subscription")
	f.IntVar(&e.cfg.HostsPerPolicy, "hosts-per-policy", def.HostsPerPolicy, "hosts each policy covers (0: all)")
	f.IntVar(&e.cfg.ControlsPerPolicy, "controls", def.ControlsPerPolicy, "controls per policy")
	f.IntVar(&e.cfg.DBSharePercent, "db-share", def.DBSharePercent, "percent of hosts running Oracle instances")
	f.StringVar(&e.epoch, "epoch", def.Epoch.Format(time.RFC3339), "time of scan cycle 0; all dates derive from it")
	f.IntVar(&e.cfg.FlipPermille, "flip-permille", def.FlipPermille, "records in a thousand whose status flips at each later scan cycle")
	f.IntVar(&e.cfg.ChurnPercent, "churn", def.ChurnPercent, "percent of each policy's hosts out of it in each later scan cycle")
	f.BoolVar(&e.cfg.Shuffle, "shuffle", false, "list each posture answer's records in an order unrelated to host, control or id")
	f.BoolVar(&e.cfg.ScatterIDs, "scatter-ids", false, "interleave the posture ids of all policies")
	f.BoolVar(&e.cfg.HostChurn, "host-churn", false, "vary host address, DNS name and scan date from record to record (rescans)")
}

func (e *estateFlags) estate() (*emulator.Estate, error) {
	t, err := config.ParseDate(e.epoch)
	if err != nil {
		return nil, usageErr("--epoch: %q is not a date (YYYY-MM-DD or RFC 3339)", e.epoch)
	}
	if t.IsZero() {
		return nil, usageErr("--epoch: %q is the zero date, which pcsync reads as no date: give a later one", e.epoch)
	}
	e.cfg.Epoch = t
	est, err := emulator.NewEstate(e.cfg)
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	return est, nil
}

type emulateOptions struct {
	estate          estateFlags
	listen          string
	username        string
	password        string
	tokenTTL        time.Duration
	rateCalls       int
	rateWindow      time.Duration
	tls             bool
	certOut         string
	idStyle         string
	emptyStyle      string
	variants        bool
	contentEncoding bool
	cache           bool
	advanceEvery    time.Duration
	replay          string
	faults          emulator.Faults
	log             logFlags
}

func newEmulateCmd(io IOStreams) *cobra.Command {
	o := &emulateOptions{}
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Serve a Qualys Policy Compliance emulator",
		Long: `Emulate serves a Qualys Policy Compliance emulator over a generated,
deterministic estate, on one address for both API families:

  the gateway: POST /auth (JWT), and the PCRS posture streaming API (policy
  list, host ids, postureInfo) under /pcrs/{1.0,...,5.0}/posture/;
  the classic API: policy list and export, control list and posture info
  under /api/{2.0,...,5.0}/fo/compliance/ (HTTP Basic and X-Requested-With,
  XML answers, paging with truncation_limit and id_min, the X-RateLimit-*
  and X-Concurrency-Limit-* headers, 409 codes 1960 and 1965).

Qualys's own sample downloader works against it unchanged but for the URL.
Faults (--fault-*) make it misbehave as real networks and gateways do.

It prints the URL it serves once it is ready, and the credentials to use.`,
		Example: `  pcsync emulate --listen 127.0.0.1:8080
  pcsync emulate --tls --cert-out emulator.pem --hosts 2000 --controls 300`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return emulateRun(cmd.Context(), io, o, cmd.Flags())
		},
	}
	f := cmd.Flags()
	o.estate.register(f, emulator.DefaultConfig())
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "`address` to listen on (port 0 picks a free one)")
	f.StringVar(&o.username, "username", "pcsync", "user name the emulator accepts")
	f.StringVar(&o.password, "password", "emulator", "password the emulator accepts")
	f.DurationVar(&o.tokenTTL, "token-ttl", 4*time.Hour, "lifetime of the tokens /auth issues")
	f.IntVar(&o.rateCalls, "rate-calls", 25, "calls per API per --rate-window before 429 (negative: no limit)")
	f.DurationVar(&o.rateWindow, "rate-window", time.Minute, "rate limit window")
	f.BoolVar(&o.tls, "tls", false, "serve https with a generated self-signed certificate")
	f.StringVar(&o.certOut, "cert-out", "", "with --tls, write the certificate (PEM) to `file` for clients to trust")
	f.StringVar(&o.idStyle, "id-style", "number", "posture ids as number, string or mixed")
	f.StringVar(&o.emptyStyle, "empty-style", "empty", `unset dates as "empty" (""), null, omit or mixed`)
	f.BoolVar(&o.variants, "variants", false, "records as some platforms send them: v5 fields in any version, customerId as a string, currentBatch/totalBatches inside records")
	f.BoolVar(&o.contentEncoding, "content-encoding", false, "send Content-Encoding: gzip with compressed answers (Qualys does not)")
	f.BoolVar(&o.cache, "cache-responses", false, "keep each posture answer and replay it (for benchmarks)")
	f.StringVar(&o.replay, "replay", "", "serve the capture in `DIR` (pcsync sync --capture DIR) instead of a generated estate")
	f.DurationVar(&o.advanceEvery, "advance-every", 0, "advance the estate by a scan cycle this often (also: POST /emulator/advance)")
	fl := &o.faults
	f.Int64Var(&fl.CutAfter, "fault-cut-after", 0, "drop posture streams after this many bytes")
	f.IntVar(&fl.CutStreams, "fault-cut-streams", 0, "only the first n streams for --fault-cut-after (0: all)")
	f.IntVar(&fl.ResetPercent, "fault-reset-percent", 0, "reset this percent of posture streams mid-way")
	f.DurationVar(&fl.Trickle, "fault-trickle", 0, "sleep this long before each write of a posture stream")
	f.DurationVar(&fl.StallFor, "fault-stall", 0, "stall posture streams this long after their first write")
	f.IntVar(&fl.StallStreams, "fault-stall-streams", 0, "only the first n streams for --fault-stall (0: all)")
	f.Int64Var(&fl.CorruptAfter, "fault-corrupt-after", 0, "corrupt a byte of compressed posture streams at this offset")
	f.IntVar(&fl.CorruptStreams, "fault-corrupt-streams", 0, "only the first n streams for --fault-corrupt-after (0: all)")
	f.IntVar(&fl.MalformedEvery, "fault-malformed-every", 0, "send every nth posture record malformed (JSON or XML)")
	f.IntVar(&fl.BrokenStreams, "fault-broken-streams", 0, "put garbage between the records of the first n streams")
	f.IntVar(&fl.Status5xx, "fault-5xx", 0, "answer the first n calls of each API with 503")
	f.IntVar(&fl.RateLimitStorm, "fault-429", 0, "answer the first n gateway calls with 429")
	f.IntVar(&fl.ConflictStorm, "fault-409", 0, "answer the first n classic calls with 409 (code 1965)")
	f.IntVar(&fl.Unauthorized, "fault-401", 0, "answer the first n posture calls with 401 JWT expired")
	o.log.register(f)
	return cmd
}

// handler is what emulate serves: a capture replayed (--replay), or the
// emulator over the generated estate (then also returned).
func (o *emulateOptions) handler(io IOStreams, lc config.Log) (http.Handler, *emulator.Server, error) {
	if o.replay != "" {
		rp, err := emulator.NewReplay(o.replay, newLogger(io, lc, false))
		if err != nil {
			return nil, nil, usageErr("--replay: %v", err)
		}
		fmt.Fprintf(io.Out, "pcsync emulator replaying %d exchanges from %s\n", rp.Exchanges(), o.replay)
		return rp, nil, nil
	}
	est, err := o.estate.estate()
	if err != nil {
		return nil, nil, err
	}
	srv, err := emulator.New(emulator.Options{
		Estate: est, Username: o.username, Password: o.password, TokenTTL: o.tokenTTL,
		RateCalls: o.rateCalls, RateWindow: o.rateWindow, Style: emulator.Style{IDs: o.idStyle, Empty: o.emptyStyle, Variants: o.variants},
		ContentEncoding: o.contentEncoding, CacheResponses: o.cache, Logger: newLogger(io, lc, false), Faults: o.faults,
	})
	if err != nil {
		return nil, nil, withCode(ExitUsage, err)
	}
	return srv, srv, nil
}

func emulateRun(ctx context.Context, io IOStreams, o *emulateOptions, f *pflag.FlagSet) error {
	var lc config.Log
	o.log.apply(f, &lc)
	handler, srv, err := o.handler(io, lc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("--listen %s: %w", o.listen, err))
	}
	scheme := "http"
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	if o.tls {
		cert, pem, err := emulator.SelfSignedCert(certHosts(o.listen)...)
		if err != nil {
			return err
		}
		if o.certOut != "" {
			if err := writeCert(o.certOut, pem); err != nil {
				return withCode(ExitUsage, err)
			}
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	if srv == nil {
		fmt.Fprintf(io.Out, "serving %s\ntry: QUALYS_USERNAME=any QUALYS_PASSWORD=any pcsync sync --gateway %s --api %s (a replay checks no credentials)\n", url, url, url)
	} else {
		printEmulatorBanner(io, url, o, srv.Estate())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if o.advanceEvery > 0 && srv != nil {
		go func() {
			t := time.NewTicker(o.advanceEvery)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					est := srv.Advance(time.Time{})
					fmt.Fprintf(io.Out, "estate advanced to scan cycle %d at %s\n", est.Cycle(), est.Now().Format(time.RFC3339))
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func printEmulatorBanner(io IOStreams, url string, o *emulateOptions, est *emulator.Estate) {
	cfg := est.Config()
	fmt.Fprintf(io.Out, "pcsync emulator serving %s\n", url)
	fmt.Fprintf(io.Out, "  username: %s\n  password: %s\n", o.username, o.password)
	fmt.Fprintf(io.Out, "  estate: seed %d, %d active + %d inactive policies, %d hosts, %d controls per policy\n",
		cfg.Seed, cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy)
	caFlag := ""
	if o.certOut != "" {
		fmt.Fprintf(io.Out, "  certificate: %s\n", o.certOut)
		caFlag = " --ca-cert " + o.certOut
	}
	fmt.Fprintf(io.Out, "try: QUALYS_USERNAME=%s QUALYS_PASSWORD=%s pcsync sync --gateway %s --api %s%s\n",
		shellQuote(o.username), shellQuote(o.password), url, url, caFlag)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r)) {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeCert writes the emulator's certificate to path, whole (through a
// temporary file), and only over an earlier certificate: never over another
// kind of file, such as a database.
func writeCert(path string, pem []byte) error {
	if err := outfile.RefuseUnlike("--cert-out", path, "-----BEGIN "); err != nil {
		return err
	}
	f, err := outfile.Create(path)
	if err != nil {
		return fmt.Errorf("--cert-out: %w", err)
	}
	defer f.Abort()
	if _, err := f.Write(pem); err != nil {
		return fmt.Errorf("--cert-out: %w", err)
	}
	return f.Commit()
}

// certHosts are the names the emulator's certificate is for besides
// loopback: the --listen host, or this machine's name when it listens on
// every address.
func certHosts(listen string) []string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			return []string{name}
		}
		return nil
	}
	return []string{host}
}

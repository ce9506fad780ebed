package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"pcsync/internal/config"
	"pcsync/internal/server"
	"pcsync/internal/store"
)

type serveOptions struct {
	sync      syncOptions // the configuration of --sync-every's runs
	listen    string
	tlsCert   string
	tlsKey    string
	syncEvery time.Duration
	requests  int
	grace     time.Duration
}

func newServeCmd(io IOStreams) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard and the read API over the database",
		Long: `Serve answers the read API (/api/v1: JSON, and CSV or NDJSON with ?format=) and
the compliance dashboard in a browser, over the database, read-only: it works
while a sync writes to it. /metrics serves Prometheus metrics, /healthz says
whether the database answers.

Without a token it listens on loopback only. With one (PCSYNC_SERVE_TOKEN, or
serve.token in the config file; never a flag), API calls send
"Authorization: Bearer TOKEN" and the dashboard asks for it once. --tls-cert
and --tls-key serve https.

--sync-every DURATION also runs the configured sync (the same configuration,
credentials and lock as "pcsync sync") at start and then at that interval,
in this process; a run still going when the next is due is not started
twice. A systemd timer or cron calling "pcsync sync" does the same from
outside.`,
		Example: `  pcsync serve --db pcsync.db                      # http://127.0.0.1:8080/
  PCSYNC_SERVE_TOKEN=... pcsync serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem
  pcsync serve --config pcsync.yaml --sync-every 6h`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serveRun(cmd, io, o)
		},
	}
	def := config.Default()
	f := cmd.Flags()
	f.StringVar(&o.sync.configFile, "config", "", "YAML configuration `file` (the token, the database, and the sync of --sync-every)")
	f.StringVar(&o.sync.db, "db", def.DB, dbFlagHelp)
	f.StringVar(&o.listen, "listen", def.Serve.Listen, "`address` to listen on; beyond loopback only with a token")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate `file` to serve https (with --tls-key)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM private key `file` of --tls-cert")
	f.DurationVar(&o.syncEvery, "sync-every", 0, "also run the configured sync at start and then this often (e.g. 6h)")
	f.IntVar(&o.requests, "concurrency", 0, "requests answered at once, the others wait their turn (0: one per core; -1: no limit)")
	f.DurationVar(&o.grace, "shutdown-grace", defaultGrace, "on SIGTERM or SIGINT, how long the requests under way (a long download) may take to finish before they are cut off")
	o.sync.log.register(f)
	return cmd
}

func serveRun(cmd *cobra.Command, io IOStreams, o *serveOptions) error {
	cfg, err := config.Load(o.sync.configFile)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	f := cmd.Flags()
	if f.Changed("db") || cfg.DB == "" {
		cfg.DB = o.sync.db
	}
	if f.Changed("listen") {
		cfg.Serve.Listen = o.listen
	}
	o.sync.log.apply(f, &cfg.Log)
	log := newLogger(io, cfg.Log, false)
	for _, w := range cfg.Warnings() {
		io.warn(w)
	}
	if strings.ContainsFunc(cfg.Serve.Token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		// the token is compared as sent, after a header's spaces are trimmed:
		// one of spaces would let the server listen and no one log in
		return usageErr("the serve token (PCSYNC_SERVE_TOKEN or serve.token) has a space or a control character: " +
			"use printable characters only, e.g. the output of `openssl rand -hex 32`")
	}
	if o.grace <= 0 {
		return usageErr("--shutdown-grace %s: give a positive duration, e.g. 30s", o.grace)
	}
	if f.Changed("sync-every") && o.syncEvery <= 0 {
		return usageErr("--sync-every %s: give a positive duration of a minute or more, e.g. 6h (leave it out for no scheduled sync)", o.syncEvery)
	}
	if o.requests < -1 {
		return usageErr("--concurrency %d: give a number of requests, 0 for one per core, or -1 for no limit", o.requests)
	}
	if err := checkListen(cfg.Serve.Listen, cfg.Serve.Token != ""); err != nil {
		return err
	}
	tlsConf, err := loadTLS(o.tlsCert, o.tlsKey)
	if err != nil {
		return err
	}
	if host, _, _ := net.SplitHostPort(cfg.Serve.Listen); tlsConf == nil && !isLoopback(host) {
		io.warn("--listen " + cfg.Serve.Listen + " is reachable beyond this machine over plain http: the token and the " +
			"session cookie cross the network readable; serve https with --tls-cert and --tls-key, or put a TLS proxy in front")
	}
	ctx := cmd.Context()
	var sched *scheduler
	if o.syncEvery > 0 {
		if sched, err = newScheduler(ctx, io, log, &cfg, o.syncEvery); err != nil {
			return err
		}
	}
	rd, err := openReader(ctx, cfg.DB)
	if err != nil {
		return err
	}
	defer rd.Close()
	opts := server.Options{Reader: rd, Token: cfg.Serve.Token, Logger: log, TLS: tlsConf != nil, Version: Version,
		Concurrency: o.requests}
	if sched != nil {
		opts.Schedule = sched.state
	}
	srv := server.New(opts)
	return listenAndServe(ctx, io, log, srv, cfg.Serve.Listen, tlsConf, sched, o.grace)
}

// checkListen refuses an address beyond loopback when there is no token.
func checkListen(addr string, token bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErr("--listen %q: use host:port, e.g. 127.0.0.1:8080", addr)
	}
	if token || isLoopback(host) {
		return nil
	}
	return usageErr("--listen %s is reachable beyond this machine and the server has no token: set PCSYNC_SERVE_TOKEN "+
		"(or serve.token in the config file), or listen on 127.0.0.1", addr)
}

// isLoopback reports whether every address host names is a loopback one.
func isLoopback(host string) bool {
	if host == "" {
		return false // every interface
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func loadTLS(cert, key string) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, usageErr("--tls-cert and --tls-key go together")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, usageErr("--tls-cert/--tls-key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// defaultGrace is how long the requests under way may take to finish once
// the server is asked to stop: under systemd's 90 s before it kills.
const defaultGrace = 30 * time.Second

// listenAndServe serves until ctx ends (SIGTERM, SIGINT), then lets the
// requests under way finish, for grace at most, and returns nil: the
// server stopped as it was asked to, even if it had to cut a download.
func listenAndServe(ctx context.Context, io IOStreams, log *slog.Logger, h http.Handler, addr string, tlsConf *tls.Config,
	sched *scheduler, grace time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usageErr("--listen %s: %v", addr, err)
	}
	scheme := "http"
	if tlsConf != nil {
		ln, scheme = tls.NewListener(ln, tlsConf), "https"
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(io.Out, "pcsync serve: dashboard at %s://%s/ (API at /api/v1, metrics at /metrics); Ctrl-C stops\n", scheme, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if sched != nil {
		go sched.loop(ctx)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing the requests under way")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	switch err := hs.Shutdown(sctx); {
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("requests still under way after the shutdown grace were cut off (a longer --shutdown-grace lets them finish)",
			"grace", grace)
		_ = hs.Close()
	case err != nil && !errors.Is(err, http.ErrServerClosed):
		return err
	}
	if sched != nil {
		sched.wait()
	}
	return nil
}

// ensureDatabase creates the database of a scheduled sync that has not
// run yet, so that the server can open it read-only from the start.
func ensureDatabase(ctx context.Context, dsn string) error {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverSQLite {
		if _, err := os.Stat(d.Path); err == nil {
			return nil
		}
	}
	st, err := openWriter(ctx, dsn, dbOptions{})
	if err != nil {
		return err
	}
	return st.Close()
}

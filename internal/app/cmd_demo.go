package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/compliance"
	"pcsync/internal/config"
	"pcsync/internal/emulator"
	"pcsync/internal/qualys"
	"pcsync/internal/server"
	"pcsync/internal/store"
)

type demoOptions struct {
	estate  estateFlags
	db      string
	log     logFlags
	noServe bool
	listen  string
}

// demoEstate is a modest estate: a few policies over a few hundred hosts.
func demoEstate() emulator.Config {
	c := emulator.DefaultConfig()
	c.Policies, c.InactivePolicies, c.Hosts, c.HostsPerPolicy, c.ControlsPerPolicy = 4, 1, 250, 200, 60
	return c
}

func newDemoCmd(io IOStreams) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Sync a built-in Qualys emulator and open the dashboard (no account needed)",
		Long: `Demo starts the Qualys emulator inside pcsync (https, with a throwaway
certificate that only this process trusts), syncs its estate into the database
exactly as "pcsync sync" would sync Qualys, through both of its APIs (the
classic API for policies, their exports and the control library; the gateway
for posture), prints the summary, and then serves the dashboard on loopback
until Ctrl-C, printing its URL.

On a new database it syncs twice before serving, so that every view has
content: once through the classic posture API (exceptions, remediation),
then, one scan cycle later, through the gateway (what changed).

Run it again on the same database and the emulated estate moves on one scan
cycle per earlier successful demo run (statuses flip, hosts leave and
rejoin policies), so the run is an incremental one and demo prints what
changed, as "pcsync diff" would. --no-serve syncs once and exits, for
scripts and CI.`,
		Example: `  pcsync demo                              # into ./pcsync.db, then the dashboard at http://127.0.0.1:8080/
  pcsync demo --no-serve                   # one sync, the summary, and exit
  pcsync demo --no-serve                   # again: one scan cycle later, incremental, with the diff
  pcsync demo --db /tmp/demo.db --hosts 2000 --controls 300 --listen 127.0.0.1:9090`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demoRun(cmd, io, o)
		},
	}
	f := cmd.Flags()
	o.estate.register(f, demoEstate())
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	f.BoolVar(&o.noServe, "no-serve", false, "sync, print the summary and exit (no dashboard)")
	f.StringVar(&o.listen, "listen", config.Default().Serve.Listen, "loopback `address` of the dashboard (another free port if taken)")
	o.log.register(f)
	return cmd
}

func demoRun(cmd *cobra.Command, io IOStreams, o *demoOptions) error {
	ctx := cmd.Context()
	if err := checkListen(o.listen, false); err != nil && !o.noServe {
		return err
	}
	est, err := o.estate.estate()
	if err != nil {
		return err
	}
	srv, err := emulator.New(emulator.Options{Estate: est, Username: "demo", Password: "demo-password", RateCalls: -1,
		Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	if err != nil {
		return err
	}
	prior, err := succeededRuns(ctx, o.db)
	if err != nil {
		return err
	}
	// One scan cycle per earlier run, each a second apart and ending now,
	// so they all fall after the last run's start.
	now := time.Now()
	for i := prior; i > 0; i-- {
		srv.Advance(now.Add(-time.Duration(i-1) * time.Second))
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.StartTLS()
	defer ts.Close()
	d, err := newDemoSync(cmd, io, o, ts)
	if err != nil {
		return err
	}
	c := est.Config()
	fmt.Fprintf(io.Out, "Emulated Qualys at %s: %d policies (+%d inactive), %d hosts, %d controls per policy, scan cycle %d\n",
		ts.URL, c.Policies, c.InactivePolicies, c.Hosts, c.ControlsPerPolicy, srv.Estate().Cycle())
	start := time.Now()
	if prior == 0 && !o.noServe { // every view needs content: exceptions, then changes
		if err := d.run(ctx, "classic"); err != nil {
			return err
		}
		srv.Advance(time.Now())
		fmt.Fprintf(io.Out, "\nThe estate moves on to scan cycle %d; syncing again through the gateway:\n", srv.Estate().Cycle())
		prior = 1
	}
	if err := d.run(ctx, ""); err != nil {
		return err
	}
	took := time.Since(start).Round(10 * time.Millisecond)
	if prior > 0 {
		fmt.Fprintln(io.Out)
		if err := diffRun(ctx, io, &diffOptions{db: o.db}); err != nil {
			return err
		}
	}
	fmt.Fprintf(io.Out, "\nDone in %s. Next:\n", took)
	db := shellQuote(shownDB(o.db)) // a URL's & would end the command
	fmt.Fprintf(io.Out, "  go run ./cmd/pcsync serve --db %s    # the dashboard and the API, any time\n", db)
	fmt.Fprintf(io.Out, "  go run ./cmd/pcsync export --db %s --table postures --format csv --out postures.csv\n", db)
	if d, err := store.ParseDSN(o.db); err == nil && d.Driver == store.DriverPostgres {
		fmt.Fprintf(io.Out, "  psql %s -c \"SELECT status, count(*) FROM postures GROUP BY status\"\n", db)
	} else {
		fmt.Fprintf(io.Out, "  sqlite3 %s \"SELECT status, count(*) FROM postures GROUP BY status\"   # any SQLite client\n", db)
	}
	fmt.Fprintf(io.Out, "  go run ./cmd/pcsync demo --db %s    # again: the estate moves on a scan cycle; see what changed\n", db)
	fmt.Fprintf(io.Out, "  go run ./cmd/pcsync emulate    # the same emulator, served for your own tools\n")
	if o.noServe {
		return nil
	}
	return d.serve(ctx, o.listen)
}

// demoSync syncs the demo's emulator, as "pcsync sync" would.
type demoSync struct {
	io     IOStreams
	log    *slog.Logger
	cfg    config.Config
	client *qualys.Client
}

func newDemoSync(cmd *cobra.Command, io IOStreams, o *demoOptions, ts *httptest.Server) (*demoSync, error) {
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	cfg := config.Default()
	cfg.DB = o.db
	cfg.Qualys.GatewayURL, cfg.Qualys.APIURL, cfg.Qualys.Username, cfg.Qualys.Password = ts.URL, ts.URL, "demo", "demo-password"
	o.log.apply(cmd.Flags(), &cfg.Log)
	if err := cfg.Validate(); err != nil {
		return nil, withCode(ExitUsage, err)
	}
	log := newLogger(io, cfg.Log, true)
	copts := clientOptions(&cfg)
	copts.RootCAs, copts.Logger = pool, log
	client, err := qualys.NewClient(copts)
	if err != nil {
		return nil, err
	}
	return &demoSync{io: io, log: log, cfg: cfg, client: client}, nil
}

// run syncs once through source ("" is the default: the gateway).
func (d *demoSync) run(ctx context.Context, source string) error {
	cfg := d.cfg
	cfg.Sync.Source = source
	return runSync(ctx, d.io, d.log, d.client, &cfg, engineOptions(&cfg), dbOptions{})
}

// serve serves the dashboard over the demo's database until ctx ends.
func (d *demoSync) serve(ctx context.Context, listen string) error {
	rd, err := openReader(ctx, d.cfg.DB)
	if err != nil {
		return err
	}
	defer rd.Close()
	srv := server.New(server.Options{Reader: rd, Logger: d.log, Version: Version})
	if ln, err := net.Listen("tcp", listen); err != nil {
		listen = "127.0.0.1:0" // the port is taken: any free one
	} else {
		ln.Close()
	}
	fmt.Fprintln(d.io.Out)
	return listenAndServe(ctx, d.io, d.log, srv, listen, nil, nil, defaultGrace)
}

// succeededRuns counts the successful runs already in the database at path
// (0 when there is no database yet).
func succeededRuns(ctx context.Context, dsn string) (int, error) {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverSQLite {
		if _, err := os.Stat(d.Path); errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
	}
	st, err := openReader(ctx, dsn)
	var notPcsync *store.NotPcsyncError
	if d, derr := store.ParseDSN(dsn); derr == nil && d.Driver == store.DriverPostgres && errors.As(err, &notPcsync) {
		return 0, nil // a PostgreSQL database without pcsync's tables yet: the demo creates them
	}
	if err != nil {
		return 0, err
	}
	defer st.Close()
	n := 0
	err = st.Runs(ctx, func(r *compliance.Run) error {
		if r.Status == compliance.RunSucceeded {
			n++
		}
		return nil
	})
	return n, err
}

// shownDB is a DSN as the demo may print it: without a password.
func shownDB(dsn string) string {
	if d, err := store.ParseDSN(dsn); err == nil {
		return d.Redacted()
	}
	return dsn
}

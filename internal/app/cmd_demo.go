package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/compliance"
	"pcsync/internal/config"
	"pcsync/internal/emulator"
	"pcsync/internal/qualys"
	"pcsync/internal/store"
)

type demoOptions struct {
	estate estateFlags
	db     string
	log    logFlags
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
		Short: "Run the whole sync against a built-in Qualys emulator (no account needed)",
		Long: `Demo starts the Qualys emulator inside pcsync (https, with a throwaway
certificate that only this process trusts), syncs its estate into the database
exactly as "pcsync sync" would sync Qualys, prints the summary, and shows where
to look next.

Run it again on the same database and the emulated estate moves on one scan
cycle per earlier successful demo run (statuses flip, hosts leave and
rejoin policies), so the second run is an incremental one and demo prints
what changed, as "pcsync diff" would.`,
		Example: `  pcsync demo                              # into ./pcsync.db
  pcsync demo                              # again: one scan cycle later, incremental, with the diff
  pcsync demo --db /tmp/demo.db --hosts 2000 --controls 300
  pcsync demo --log-format json 2>demo.log`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.log.announce(io, cmd.Flags())
			est, err := o.estate.estate()
			if err != nil {
				return err
			}
			srv, err := emulator.New(emulator.Options{Estate: est, Username: "demo", Password: "demo-password", RateCalls: -1})
			if err != nil {
				return err
			}
			prior, err := succeededRuns(cmd.Context(), o.db)
			if err != nil {
				return err
			}
			// One scan cycle per earlier run, each a second apart and ending
			// now, so they all fall after the last run's start.
			now := time.Now()
			for i := prior; i > 0; i-- {
				srv.Advance(now.Add(-time.Duration(i-1) * time.Second))
			}
			ts := httptest.NewUnstartedServer(srv)
			ts.StartTLS()
			defer ts.Close()
			pool := x509.NewCertPool()
			pool.AddCert(ts.Certificate())

			cfg := config.Default()
			cfg.DB = o.db
			cfg.Qualys.GatewayURL, cfg.Qualys.Username, cfg.Qualys.Password = ts.URL, "demo", "demo-password"
			o.log.apply(cmd.Flags(), &cfg.Log)
			if err := cfg.Validate(); err != nil {
				return withCode(ExitUsage, err)
			}
			log := newLogger(io, cfg.Log, true)
			c := est.Config()
			fmt.Fprintf(io.Out, "Emulated Qualys at %s: %d policies (+%d inactive), %d hosts, %d controls per policy, scan cycle %d\n",
				ts.URL, c.Policies, c.InactivePolicies, c.Hosts, c.ControlsPerPolicy, srv.Estate().Cycle())
			copts := clientOptions(&cfg)
			copts.RootCAs, copts.Logger = pool, log
			client, err := qualys.NewClient(copts)
			if err != nil {
				return err
			}
			start := time.Now()
			err = runSync(cmd.Context(), io, log, client, &cfg, engineOptions(&cfg), dbOptions{})
			if err != nil {
				return err
			}
			took := time.Since(start).Round(10 * time.Millisecond)
			if prior > 0 {
				fmt.Fprintln(io.Out)
				if err := diffRun(cmd.Context(), io, &diffOptions{db: o.db}); err != nil {
					return err
				}
			}
			fmt.Fprintf(io.Out, "\nDone in %s. Next:\n", took)
			fmt.Fprintf(io.Out, "  go run ./cmd/pcsync export --db %s --table postures --format csv --out postures.csv\n", shownDB(o.db))
			fmt.Fprintf(io.Out, "  go run ./cmd/pcsync export --db %s --table runs --format json\n", shownDB(o.db))
			if d, err := store.ParseDSN(o.db); err == nil && d.Driver == store.DriverPostgres {
				fmt.Fprintf(io.Out, "  psql '%s' -c \"SELECT status, count(*) FROM postures GROUP BY status\"\n", d.Redacted())
			} else {
				fmt.Fprintf(io.Out, "  sqlite3 %s \"SELECT status, count(*) FROM postures GROUP BY status\"   # any SQLite client\n", o.db)
			}
			fmt.Fprintf(io.Out, "  go run ./cmd/pcsync demo --db %s    # again: the estate moves on a scan cycle; see what changed\n", shownDB(o.db))
			fmt.Fprintf(io.Out, "  go run ./cmd/pcsync emulate    # the same emulator, served for your own tools\n")
			return nil
		},
	}
	f := cmd.Flags()
	o.estate.register(f, demoEstate())
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	o.log.register(f)
	return cmd
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

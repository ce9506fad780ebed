package app

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"pcsync/internal/config"
	"pcsync/internal/store"
	"pcsync/internal/store/postgres"
)

type dbInitOptions struct {
	db    string
	citus bool
}

func newDBCmd(io IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Prepare a database",
		Args:  noArgs,
	}
	o := &dbInitOptions{}
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create or upgrade a database's schema, and distribute it on Citus",
		Long: `Init creates the pcsync tables in the database --db names (or brings them up to
date), as the first sync would. With --citus, on a PostgreSQL database that has
the citus extension, it then distributes the tables that grow with the estate
(postures, history, stale_history, policy_hosts and the counts) by policy_id,
co-located, and makes the catalogue, hosts and the run ledger reference tables
(create_distributed_table, create_reference_table). Tables already done are
left as they are. See docs/scaling.md.`,
		Example: `  pcsync db init --db postgres://pcsync@coordinator/compliance --citus`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return dbInitRun(cmd.Context(), io, o)
		},
	}
	f := initCmd.Flags()
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	f.BoolVar(&o.citus, "citus", false, "distribute the tables (PostgreSQL with the citus extension)")
	cmd.AddCommand(withExitCodes(initCmd, ExitOK, ExitError, ExitUsage, ExitDB))
	return cmd
}

func dbInitRun(ctx context.Context, io IOStreams, o *dbInitOptions) error {
	if d, err := store.ParseDSN(o.db); err == nil && o.citus && d.Driver != store.DriverPostgres {
		return usageErr("--citus: %s is a SQLite database; only a PostgreSQL one can be distributed", d.Redacted())
	}
	if d, err := store.ParseDSN(o.db); err == nil && o.citus {
		if err := postgres.CheckCitus(ctx, d.URL); err != nil { // before the schema is written: exit 2 is "nothing was done"
			return withCode(ExitUsage, err)
		}
	}
	st, err := openWriter(ctx, o.db, dbOptions{})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(io.Out, "schema up to date (created where it was missing, upgraded where it was older)")
	if !o.citus {
		return nil
	}
	did, err := distribute(ctx, st)
	for _, d := range did {
		fmt.Fprintln(io.Out, d)
	}
	if err == nil && len(did) == 0 {
		fmt.Fprintln(io.Out, "every table was distributed already")
	}
	return err
}

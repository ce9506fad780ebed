package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/migrate"
	"pcsync/internal/store"
)

type migrateOptions struct {
	from, to  string
	batchRows int
}

func newMigrateCmd(io IOStreams) *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Copy a pcsync database into another (SQLite to PostgreSQL and back), verified",
		Long: `Migrate copies every table of the --from database into the --to database,
through the table registry that export uses, whichever store each is: a SQLite
file or a PostgreSQL server. Rows stream in key order and are written in
transactions of 5000, so memory stays flat whatever the size. --to is created
if needed; it must be new or a copy of --from that an earlier migrate did not
finish: a migrate that is killed or interrupted resumes where it stopped when
run again. Stop syncs into --from while it runs.

Each table is then verified: its rows are counted and checksummed (an
order-independent SHA-256-based sum of every value, times to the
microsecond) on both sides, and printed; any difference fails the migrate
with exit code 8.`,
		Example: `  pcsync migrate --from pcsync.db --to postgres://pcsync@db.example.com/compliance
  pcsync migrate --from postgres://pcsync@db.example.com/compliance --to copy.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return migrateRun(cmd.Context(), io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "", "the database to copy: a SQLite `path` or postgres://... (read only)")
	f.StringVar(&o.to, "to", "", "the database to copy into: a SQLite `path` or postgres://... (created if needed)")
	f.IntVar(&o.batchRows, "batch-rows", migrate.BatchRows, "rows per transaction of the target")
	_ = f.MarkHidden("batch-rows")
	return cmd
}

func migrateRun(ctx context.Context, io IOStreams, o *migrateOptions) error {
	if o.from == "" || o.to == "" {
		return usageErr("migrate needs --from DSN and --to DSN")
	}
	if d, err := store.ParseDSN(o.to); err == nil && d.Driver == store.DriverSQLite {
		if err := checkOutput(o.from, "--to", d.Path); err != nil { // the same file, a link to it, or its WAL
			return err
		}
	}
	if samePostgres(o.from, o.to) {
		return usageErr("--from and --to name the same database")
	}
	from, err := openReader(ctx, o.from)
	if err != nil {
		return err
	}
	defer from.Close()
	to, err := openWriter(ctx, o.to, dbOptions{})
	if err != nil {
		return err
	}
	defer to.Close()
	loader, ok := to.(migrate.Target)
	if !ok {
		return fmt.Errorf("%s cannot be loaded row by row", o.to)
	}
	release, err := to.AcquireSyncLock(ctx)
	if err != nil {
		var locked *store.LockedError
		if errors.As(err, &locked) {
			return withCode(ExitBusy, err)
		}
		return withCode(ExitDB, err)
	}
	defer release()
	if err := migrate.CheckResumable(ctx, from, loader); err != nil {
		var foreign *migrate.ForeignError
		if errors.As(err, &foreign) {
			return usageErr("--to %s: %v; migrate into a new database (nothing was written)", store.RedactDSN(o.to), err)
		}
		return withCode(ExitDB, err)
	}
	if err := to.BeginLoad(ctx); err != nil {
		return withCode(ExitDB, err)
	}
	start := time.Now()
	const row = "%-28s %12v %12v %-16v %-16v %10v %8v %s\n"
	fmt.Fprintf(io.Out, row, "TABLE", "SOURCE ROWS", "TARGET ROWS", "SOURCE SUM", "TARGET SUM", "COPIED", "SECONDS", "")
	results, err := migrate.Copy(ctx, from, loader, o.batchRows, func(r *migrate.TableResult) {
		status := "ok"
		if !r.OK() {
			status = "DIFFERS"
		}
		fmt.Fprintf(io.Out, row, r.Table, r.SourceRows, r.TargetRows, r.SourceSum, r.TargetSum, r.Copied,
			fmt.Sprintf("%.1f", r.Elapsed.Seconds()), status)
	})
	if err == nil {
		err = to.EndLoad(ctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return withCode(ExitDB, fmt.Errorf("migrate: %w (run it again to resume)", err))
	}
	return migrateVerdict(io, results, time.Since(start))
}

// migrateVerdict prints the totals and fails if any table differs.
func migrateVerdict(io IOStreams, results []migrate.TableResult, elapsed time.Duration) error {
	var rows, copied int64
	var copySecs float64
	var bad []string
	for _, r := range results {
		rows += r.SourceRows
		copied += r.Copied
		copySecs += r.CopyElapsed.Seconds()
		if !r.OK() {
			bad = append(bad, r.Table)
		}
	}
	fmt.Fprintf(io.Out, "%d rows in %d tables, %d copied by this run in %.1fs (%.0f rows/s copying), verified in %.1fs in all\n",
		rows, len(results), copied, copySecs, float64(copied)/max(copySecs, 1e-9), elapsed.Seconds())
	if len(bad) > 0 {
		return withCode(ExitMismatch, fmt.Errorf("the copy differs from its source in %s: it was written to by something else, "+
			"or --to held other data; migrate into a new database", strings.Join(bad, ", ")))
	}
	return nil
}

// samePostgres says whether two DSNs name one PostgreSQL database.
func samePostgres(a, b string) bool {
	da, errA := store.ParseDSN(a)
	db, errB := store.ParseDSN(b)
	return errA == nil && errB == nil && da.Driver == store.DriverPostgres && db.Driver == store.DriverPostgres &&
		da.Redacted() == db.Redacted()
}

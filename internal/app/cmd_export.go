package app

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"pcsync/internal/config"
	"pcsync/internal/export"
	"pcsync/internal/outfile"
)

type exportOptions struct {
	db     string
	table  string
	format string
	out    string
	// tableSet says --table was given (parquet takes every table)
	tableSet bool
}

func newExportCmd(ios IOStreams) *cobra.Command {
	o := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write a table of the database as NDJSON, JSON or CSV",
		Long: `Export streams one table of the database to standard output (or --out), one
row in memory at a time. Field names are camelCase. Postures keep the PCRS
record shape in NDJSON and JSON (nested technology and criticality, evidence
and causeOfFailure as received, unmodelled fields under their own names);
CSV flattens nesting as technology.id, criticality.label and so on, with
evidence, causeOfFailure and extra as JSON text.`,
		Example: `  pcsync export --table postures --format ndjson > postures.ndjson
  pcsync export --format parquet --out lake/    # every table; postures in lake/postures/policy_id=N/
  pcsync export --table runs --format csv --out runs.csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.tableSet = cmd.Flags().Changed("table")
			return exportRun(cmd.Context(), ios, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	f.StringVar(&o.table, "table", "postures", "`table`: "+strings.Join(export.Tables(), ", "))
	f.StringVar(&o.format, "format", "ndjson", "`format`: "+strings.Join(export.Formats, ", ")+", or parquet (every table, into the directory --out)")
	f.StringVar(&o.out, "out", "", "write to `file` instead of standard output")
	return cmd
}

func exportRun(ctx context.Context, ios IOStreams, o *exportOptions) error {
	if o.format == "parquet" {
		return exportParquet(ctx, ios, o)
	}
	if !slices.Contains(export.Tables(), o.table) {
		return usageErr("--table: unknown table %q; use one of %s", o.table, strings.Join(export.Tables(), ", "))
	}
	if !slices.Contains(export.Formats, o.format) {
		return usageErr("--format: unknown format %q; use one of %s, parquet", o.format, strings.Join(export.Formats, ", "))
	}
	if o.out == "-" { // as most tools read it: standard output
		o.out = ""
	}
	if fi, err := os.Stat(o.out); err == nil && fi.IsDir() {
		return usageErr("--out %s is a directory: give a file (a directory is for --format parquet)", o.out)
	}
	if err := checkOutput(o.db, "--out", o.out); err != nil {
		return err
	}
	st, err := openReader(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.out == "" {
		return export.Write(ctx, st, o.table, o.format, ios.Out)
	}
	f, err := outfile.Create(o.out)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("--out: %w", err))
	}
	defer f.Abort() // the earlier file stays unless the export completes
	if err := export.Write(ctx, st, o.table, o.format, f); err != nil {
		return err
	}
	return f.Commit()
}

// exportParquet writes every table as Parquet into the directory o.out,
// whole: into a temporary directory beside it, put in its place when done.
func exportParquet(ctx context.Context, ios IOStreams, o *exportOptions) error {
	if o.out == "" || o.out == "-" {
		return usageErr("--format parquet writes a directory of files, not to standard output: give it with --out DIR")
	}
	if o.tableSet {
		return usageErr("--format parquet exports every table; leave out --table (or choose ndjson, csv or json for one table)")
	}
	if err := outputGuard(o.db).CheckDir("--out", o.out); err != nil {
		return withCode(ExitUsage, err)
	}
	if err := previousExport(o.out); err != nil {
		return withCode(ExitUsage, err)
	}
	st, err := openReader(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := outfile.CreateDir(o.out)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("--out: %w", err))
	}
	defer d.Abort() // the earlier directory stays unless the export completes
	if err := export.WriteParquet(ctx, st, d.Path); err != nil {
		return err
	}
	if err := d.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(ios.ErrOut, "wrote every table as Parquet to %s (postures by policy in %s)\n", o.out, filepath.Join(o.out, "postures"))
	return nil
}

// previousExport refuses a directory that exists and holds anything an
// export as Parquet does not write (TABLE.parquet, and
// postures/policy_id=N/*.parquet): the export replaces the directory
// whole, which would delete a user's files.
func previousExport(dir string) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		policy := len(parts) >= 2 && parts[0] == "postures" && strings.HasPrefix(parts[1], "policy_id=")
		switch {
		case rel == ".",
			d.IsDir() && (rel == "postures" || policy && len(parts) == 2),
			d.Type().IsRegular() && strings.HasSuffix(rel, ".parquet") && (len(parts) == 1 || policy && len(parts) == 3):
			return nil
		}
		return fmt.Errorf("--out %s holds %s, which an export as Parquet does not write: the export replaces the directory "+
			"whole, so give a new or empty directory, or one an earlier export wrote", dir, rel)
	})
}

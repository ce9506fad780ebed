package app

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"pcsync/internal/export"
	"pcsync/internal/store/sqlite"
)

type exportOptions struct {
	db     string
	table  string
	format string
	out    string
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
  pcsync export --table runs --format csv --out runs.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(export.Tables, o.table) {
				return usageErr("--table: unknown table %q; use one of %s", o.table, strings.Join(export.Tables, ", "))
			}
			if !slices.Contains(export.Formats, o.format) {
				return usageErr("--format: unknown format %q; use one of %s", o.format, strings.Join(export.Formats, ", "))
			}
			if _, err := os.Stat(o.db); err != nil {
				return usageErr("--db: %s does not exist; run pcsync sync (or pcsync demo) first", o.db)
			}
			st, err := sqlite.Open(cmd.Context(), o.db, sqlite.Options{})
			if err != nil {
				return withCode(ExitDB, err)
			}
			defer st.Close()
			var w io.Writer = ios.Out
			var f *os.File
			if o.out != "" {
				if f, err = os.Create(o.out); err != nil {
					return withCode(ExitUsage, fmt.Errorf("--out: %w", err))
				}
				w = f
			}
			err = export.Write(cmd.Context(), st, o.table, o.format, w)
			if f != nil {
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", "pcsync.db", "SQLite database `path`")
	f.StringVar(&o.table, "table", "postures", "`table`: "+strings.Join(export.Tables, ", "))
	f.StringVar(&o.format, "format", "ndjson", "`format`: "+strings.Join(export.Formats, ", "))
	f.StringVar(&o.out, "out", "", "write to `file` instead of standard output")
	return cmd
}

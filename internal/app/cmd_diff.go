package app

import (
	"context"
	"fmt"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"pcsync/internal/compliance"
	"pcsync/internal/config"
	"pcsync/internal/export"
)

type diffOptions struct {
	db       string
	from, to int64
	fromSet  bool // --from was given (0 then means from the start)
	changes  string
}

func newDiffCmd(io IOStreams) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what changed between two runs: newly failing, newly passing, new and stale postures",
		Long: `Diff summarizes, per policy, what changed after run --from up to and including
run --to: postures that became Failed, Passed or Error (from the status
history), postures seen for the first time, postures marked stale (a full run
no longer returned them, or their host left the policy) and stale postures
Qualys returned again (revived). By default --to is the latest finished run
and --from the last successful run before it (so the changes of failed runs
in between are counted), and "pcsync diff" answers "what did last night's
run find?". --from 0 counts from the first run.

With --changes FORMAT (ndjson, csv or json) it lists every change instead,
one row each: kind (newly-failing, newly-passing, newly-error, new, stale,
revived), postureId, policyId, hostId, controlId, oldStatus, newStatus,
changedAt, runId.`,
		Example: `  pcsync diff
  pcsync diff --from 12 --to 19
  pcsync diff --changes csv > changes.csv`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.fromSet = cmd.Flags().Changed("from")
			return diffRun(cmd.Context(), io, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	f.Int64Var(&o.from, "from", 0, "compare after this `run` id (default: the last successful run before --to)")
	f.Int64Var(&o.to, "to", 0, "up to and including this `run` id (default: the latest finished run)")
	f.StringVar(&o.changes, "changes", "", "list each change in this `format` (ndjson, csv or json) instead of the summary")
	return cmd
}

func diffRun(ctx context.Context, io IOStreams, o *diffOptions) error {
	if o.changes != "" && !slices.Contains(export.Formats, o.changes) {
		return usageErr("--changes: unknown format %q; use ndjson, csv or json", o.changes)
	}
	st, err := openReader(ctx, o.db)
	if err != nil {
		return err
	}
	defer st.Close()
	var runs []compliance.Run
	if err := st.Runs(ctx, func(r *compliance.Run) error { runs = append(runs, *r); return nil }); err != nil {
		return withCode(ExitDB, err)
	}
	if o.to == 0 {
		for _, r := range runs {
			if r.Status != compliance.RunRunning && r.Status != "abandoned" {
				o.to = r.ID
			}
		}
	}
	if o.to == 0 {
		return usageErr("no finished run in %s to compare", o.db)
	}
	if !o.fromSet {
		o.from = 0
		for _, r := range runs {
			if r.ID < o.to && r.Status == compliance.RunSucceeded {
				o.from = r.ID
			}
		}
	}
	if o.from < 0 || o.from >= o.to {
		return usageErr("--from (%d) must be before --to (%d)", o.from, o.to)
	}
	for flag, id := range map[string]int64{"--from": o.from, "--to": o.to} {
		if id != 0 && !slices.ContainsFunc(runs, func(r compliance.Run) bool { return r.ID == id }) {
			return usageErr("%s %d: %s has no such run (pcsync export --table runs lists them)", flag, id, o.db)
		}
	}
	if o.changes != "" {
		return export.Changes(ctx, st, o.from, o.to, o.changes, io.Out)
	}
	diffs, err := st.Diff(ctx, o.from, o.to)
	if err != nil {
		return withCode(ExitDB, err)
	}
	if o.from == 0 {
		fmt.Fprintf(io.Out, "Changes up to run %d, from the first run:\n", o.to)
	} else {
		fmt.Fprintf(io.Out, "Changes after run %d up to run %d:\n", o.from, o.to)
	}
	if len(diffs) == 0 {
		fmt.Fprintln(io.Out, "  none")
		return nil
	}
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tTITLE\tNEWLY FAILING\tNEWLY PASSING\tNEWLY ERROR\tNEW\tSTALE\tREVIVED")
	var tot compliance.PolicyDiff
	for _, d := range diffs {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", d.PolicyID, truncate(d.Title, 48),
			d.NewlyFailing, d.NewlyPassing, d.NewlyError, d.New, d.Stale, d.Revived)
		tot.NewlyFailing += d.NewlyFailing
		tot.NewlyPassing += d.NewlyPassing
		tot.NewlyError += d.NewlyError
		tot.New += d.New
		tot.Stale += d.Stale
		tot.Revived += d.Revived
	}
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\n", tot.NewlyFailing, tot.NewlyPassing, tot.NewlyError, tot.New, tot.Stale, tot.Revived)
	return tw.Flush()
}

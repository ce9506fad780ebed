// Package app is pcsync's command line: one file per command, the mapping
// from errors to exit codes, and everything that prints for a person. No
// other package writes to the terminal or chooses an exit code.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"pcsync/internal/store"
)

// Exit codes, the same for every command.
const (
	ExitOK          = 0
	ExitError       = 1   // an unexpected error (a bug, or an unwritable output file)
	ExitUsage       = 2   // bad flags, configuration or missing credentials: nothing was done
	ExitAuth        = 3   // Qualys refused the credentials
	ExitAPI         = 4   // Qualys or the network failed and retries ran out
	ExitIncomplete  = 5   // the run finished but some policies or batches failed, or records were rejected
	ExitDB          = 6   // the database cannot be opened or written (full disk, permissions)
	ExitBusy        = 7   // another sync is running on the same database
	ExitMismatch    = 8   // migrate: the copy differs from its source
	ExitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM); committed data stays
)

// exitMeaning is what each exit code means, for the help of the commands
// that can return it.
var exitMeaning = map[int]string{
	ExitOK:          "success",
	ExitError:       "unexpected error",
	ExitUsage:       "bad flags, configuration or missing credentials (nothing was done)",
	ExitAuth:        "Qualys refused the credentials",
	ExitAPI:         "Qualys or the network failed and retries ran out, or a redirect was refused",
	ExitIncomplete:  "the run finished, but some policies or batches failed or records were rejected",
	ExitDB:          "the database cannot be opened or written, or is not a pcsync database",
	ExitBusy:        "another sync is running on the same database",
	ExitMismatch:    "the copy's rows or checksums differ from the source's",
	ExitInterrupted: "interrupted; what was committed stays, and the next run completes it",
}

// withExitCodes records the exit codes cmd can return; its help lists them.
func withExitCodes(cmd *cobra.Command, codes ...int) *cobra.Command {
	var b strings.Builder
	for _, c := range codes {
		fmt.Fprintf(&b, "  %-4d %s\n", c, exitMeaning[c])
	}
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations["exit-codes"] = strings.TrimRight(b.String(), "\n")
	return cmd
}

// helpExitCodes ends cobra's help template with the command's exit codes.
const helpExitCodes = `{{with index .Annotations "exit-codes"}}
Exit codes:
{{.}}
{{end}}`

// IOStreams are the command's standard streams, injectable for tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// TTY reports whether ErrOut is a terminal (progress bars go there).
	TTY bool

	console *console // set by Main
}

// System returns the process's streams.
func System() IOStreams {
	return IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, TTY: term.IsTerminal(int(os.Stderr.Fd()))}
}

// exitError carries an exit code chosen where the error is understood.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

func usageErr(format string, args ...any) error {
	return withCode(ExitUsage, fmt.Errorf(format, args...))
}

// Main runs pcsync with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, io IOStreams) int {
	io.console = &console{json: jsonAsked(args)}
	root := newRootCmd(io)
	root.SetArgs(args)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(ctx, err)
	msg := oneLine(err.Error())
	if code == ExitInterrupted && errors.Is(err, context.Canceled) { // say what it means, and what to do
		msg = "interrupted: what was committed stays and a file is written whole or not at all; run the same command again to finish"
	}
	if code != ExitIncomplete || !errors.Is(err, errSummaryShown) {
		io.fail(msg)
	}
	return code
}

// errSummaryShown marks an incomplete run whose summary already says why.
var errSummaryShown = errors.New("see the summary above")

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func exitCode(ctx context.Context, err error) int {
	var ee *exitError
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled): // stopped by Ctrl-C wherever it was
		return ExitInterrupted
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return ExitInterrupted
	}
	return ExitError
}

// flagError marks flags that do not parse as usage errors.
func flagError(cmd *cobra.Command, err error) error { return withCode(ExitUsage, err) }

// noArgs refuses positional arguments, as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usageErr("unknown command %q for %q; see %s --help", args[0], cmd.CommandPath(), cmd.CommandPath())
		}
		return usageErr("%s takes no arguments (got %q); see %s --help", cmd.CommandPath(), args[0], cmd.CommandPath())
	}
	return nil
}

func newRootCmd(io IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "pcsync",
		Short: "Qualys Policy Compliance posture into a database you can query",
		Long: `pcsync pulls Qualys Policy Compliance posture (policies, host ids and the
streamed posture records of the PCRS API) into SQLite, keeps a record of every
run, and exports tables as CSV, NDJSON or JSON. It ships a Qualys emulator, so
it can be tried and tested without a Qualys account: run "pcsync demo".`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs, // an unknown command is a usage error, not help
		RunE:          func(cmd *cobra.Command, args []string) error { return cmd.Help() },
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			warnPasswordFlags(io, cmd)
		},
	}
	root.SetHelpTemplate(root.HelpTemplate() + helpExitCodes)
	root.SetFlagErrorFunc(flagError)
	withExitCodes(root, ExitOK, ExitError, ExitUsage, ExitAuth, ExitAPI, ExitIncomplete, ExitDB, ExitBusy, ExitMismatch, ExitInterrupted)
	root.AddCommand(
		withExitCodes(newSyncCmd(io), ExitOK, ExitError, ExitUsage, ExitAuth, ExitAPI, ExitIncomplete, ExitDB, ExitBusy, ExitInterrupted),
		newCheckCmd(io), // its exit codes mean what a check found
		withExitCodes(newEmulateCmd(io), ExitOK, ExitError, ExitUsage),
		withExitCodes(newExportCmd(io), ExitOK, ExitError, ExitUsage, ExitDB, ExitInterrupted),
		withExitCodes(newDemoCmd(io), ExitOK, ExitError, ExitUsage, ExitIncomplete, ExitDB, ExitBusy, ExitInterrupted),
		withExitCodes(newDiffCmd(io), ExitOK, ExitError, ExitUsage, ExitDB),
		withExitCodes(newBenchCmd(io), ExitOK, ExitError, ExitUsage, ExitInterrupted),
		withExitCodes(newMigrateCmd(io), ExitOK, ExitError, ExitUsage, ExitDB, ExitBusy, ExitMismatch, ExitInterrupted),
		newDBCmd(io),
		withExitCodes(newServeCmd(io), ExitOK, ExitError, ExitUsage, ExitDB),
		withExitCodes(newVersionCmd(io), ExitOK),
	)
	return root
}

// Version is set at build time with -ldflags "-X pcsync/internal/app.Version=...".
var Version = "dev"

func newVersionCmd(io IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the pcsync version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(io.Out, "pcsync %s\n", Version)
			return nil
		},
	}
}

// warnPasswordFlags warns when a database flag carries a password: every
// user of the machine can read a command line (ps, /proc). The password
// never reaches pcsync's output; the warning says where else to put it.
func warnPasswordFlags(io IOStreams, cmd *cobra.Command) {
	for _, name := range []string{"db", "from", "to"} {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed || f.Value.Type() != "string" {
			continue
		}
		v := f.Value.String()
		if d, err := store.ParseDSN(v); err == nil && d.Driver == store.DriverPostgres && store.RedactDSN(v) != v {
			io.warn("--" + name + " holds a password, which other users of this machine can read in the process list (ps): " +
				"give it in PGPASSWORD or a ~/.pgpass file instead")
		}
	}
}

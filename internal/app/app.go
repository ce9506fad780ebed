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
	ExitInterrupted = 130 // interrupted (Ctrl-C, SIGTERM); committed data stays
)

const exitCodesHelp = `Exit codes:
  0    success
  1    unexpected error
  2    bad flags, configuration or missing credentials (nothing was done)
  3    Qualys refused the credentials
  4    Qualys or the network failed and retries ran out
  5    the run finished, but some policies or batches failed or records were rejected
  6    the database cannot be opened or written
  7    another sync is running on the same database
  130  interrupted; what was committed stays, and the next run completes it`

// IOStreams are the command's standard streams, injectable for tests.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// TTY reports whether ErrOut is a terminal (progress bars go there).
	TTY bool
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
	root := newRootCmd(io)
	root.SetArgs(args)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := exitCode(ctx, err)
	if code != ExitIncomplete || !errors.Is(err, errSummaryShown) {
		fmt.Fprintf(io.ErrOut, "pcsync: %s\n", oneLine(err.Error()))
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
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		return ExitInterrupted
	case isFlagError(err):
		return ExitUsage
	}
	return ExitError
}

// isFlagError recognizes cobra/pflag parse errors, which are not typed.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown shorthand", "invalid argument", "flag needs an argument", "unknown command", "accepts ", "requires "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
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
	}
	root.SetHelpTemplate(root.HelpTemplate() + "\n" + exitCodesHelp + "\n")
	root.AddCommand(newSyncCmd(io), newCheckCmd(io), newEmulateCmd(io), newExportCmd(io), newDemoCmd(io), newDiffCmd(io), newBenchCmd(io), newVersionCmd(io))
	return root
}

// Version is set at build time with -ldflags "-X pcsync/internal/app.Version=...".
var Version = "dev"

func newVersionCmd(io IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the pcsync version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(io.Out, "pcsync %s\n", Version)
			return nil
		},
	}
}

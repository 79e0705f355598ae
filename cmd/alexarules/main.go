// Command alexarules runs Lua automation rules for Amazon Alexa. It parses
// flags and calls the host package (engine/host), which does the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules name zones; the host may have no zoneinfo

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalNotify()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalNotify is the context that SIGINT and SIGTERM end.
func signalNotify() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// Exit codes (INTERFACES.md).
const (
	exitOK      = 0
	exitFailure = 1 // rule, validation or test failure, or a runtime failure
	exitUsage   = 2 // usage or configuration error
)

// env is the process environment, passed in so tests can set it.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// errReported ends a command whose failure it has already printed.
var errReported = errors.New("reported")

// usageError marks a usage or configuration error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app is one execution of the command line.
type app struct {
	env
	// ran is set once a command's own work starts: an error before it is
	// cobra's (an unknown command or flag, missing arguments).
	ran bool
}

// action wraps a command's work so that its errors can be told from
// cobra's.
func (a *app) action(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return f(cmd, args)
	}
}

// run is the whole program; main only supplies the process's context,
// arguments, environment and standard streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{env: env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}}
	root := a.root()
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !errors.Is(err, errReported) {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
	}
	var ue usageError
	switch {
	case !a.ran:
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	case errors.As(err, &ue), host.IsConfigError(err):
		return exitUsage
	}
	return exitFailure
}

// root is the command tree.
func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "alexarules",
		Short: "Lua automation rules for Amazon Alexa",
		Long: `alexarules runs automation rules, written in Lua, against an Amazon Alexa account
(or the built-in simulator). The configuration file is described in docs/CONFIG.md.

Exit codes: 0 ok, 1 rule, validation or runtime failure, 2 usage or configuration error.`,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: a.action(func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return usageError{errReported}
		}),
	}
	root.AddCommand(a.demoCmd(), a.runCmd(), a.simCmd(), a.checkCmd(), a.testCmd(), a.loginCmd(), a.devicesCmd())
	root.AddCommand(a.nextCmd(), a.traceCmd(), a.stateCmd(), a.timersCmd(), a.eventsCmd(), a.shadowCmd())
	root.AddCommand(a.typesCmd(), a.initCmd())
	return root
}

// Command alexarules runs Lua automation rules against Amazon Alexa.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules name zones; the host may have no zoneinfo
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
	exitFailure = 1 // rule, validation or test failure
	exitUsage   = 2 // usage or configuration error
)

// env is the process environment, passed in so tests can set it.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const usage = `alexarules: Lua automation rules for Amazon Alexa

usage:
  alexarules demo    [--admin ADDR]                     simulated household + engine + examples/, live output
  alexarules run     --rules DIR [--config FILE] [--data FILE] [--admin ADDR] [--cloud URL] [--dry-run]
                     [--push http2|websocket|off] [--poll-interval DURATION]
  alexarules sim     --listen ADDR [--household FILE] [--tls CERTDIR]
  alexarules check   PATH...                             validate rule files
  alexarules test    PATH...                             run *_test.lua rule tests
  alexarules login   [--config FILE]                     Login with Amazon; stores the refresh token
  alexarules devices [--config FILE] [--cloud URL]       list endpoints and Echo devices

Run 'alexarules COMMAND -h' for a command's flags.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and standard streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmds := map[string]func(context.Context, env, []string) int{
		"run":     cmdRun,
		"check":   cmdCheck,
		"sim":     cmdSim,
		"devices": cmdDevices,
		"login":   cmdLogin,
		"demo":    cmdDemo,
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "alexarules: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	return cmd(ctx, e, args[1:])
}

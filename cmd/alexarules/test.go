package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/ruletest"
	"github.com/spf13/cobra"
)

const testUsage = `Usage: alexarules test PATH... [-run REGEX] [-v] [-tz ZONE] [-config FILE]

Runs the *_test.lua rule tests of PATH (files, or directories with their
subdirectories) against the rule files beside each test, on a virtual clock
with a simulated household (docs/RULES.md §7). Exit 0 when every test
passes, 1 when one fails, 2 on usage errors.
`

// testCmd runs rule tests. Its flags are go test's (-run, -v: one dash),
// so it parses them itself.
func (a *app) testCmd() *cobra.Command {
	c := &cobra.Command{
		Use:                "test PATH... [-run REGEX] [-v]",
		Short:              "run *_test.lua rule tests (virtual clock, simulated household)",
		DisableFlagParsing: true,
	}
	c.RunE = a.action(func(cmd *cobra.Command, args []string) error {
		o, paths, err := a.testOptions(args)
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(a.stdout, testUsage)
			return nil
		}
		if err != nil {
			return usageError{err}
		}
		dir, err := os.MkdirTemp("", "alexarules-test-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.TempDir = dir
		res, err := ruletest.Run(cmd.Context(), o, paths...)
		var ue *ruletest.UsageError
		if errors.As(err, &ue) {
			return usageError{err}
		}
		if err != nil {
			return err
		}
		if !res.OK() {
			fmt.Fprintf(a.stdout, "FAIL: %d of %d tests failed\n", res.Failed, res.Passed+res.Failed)
			return errReported
		}
		return nil
	})
	return c
}

// testOptions parses test's flags, which may come before or after the
// paths.
func (a *app) testOptions(args []string) (ruletest.Options, []string, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := fs.String("run", "", "")
	verbose := fs.Bool("v", false, "")
	tz := fs.String("tz", "", "")
	config := fs.String("config", "", "")
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			return ruletest.Options{}, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) == 0 {
		return ruletest.Options{}, nil, errors.New("no PATH given\n" + testUsage)
	}
	o := ruletest.Options{Verbose: *verbose, Out: a.stdout}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			return o, nil, fmt.Errorf("-run %q: %w", *run, err)
		}
		o.Filter = re
	}
	cfg, err := host.LoadConfig(*config)
	if err != nil {
		return o, nil, err
	}
	if *tz != "" {
		cfg.Timezone = *tz
	}
	if o.Location, err = cfg.Location(); err != nil {
		return o, nil, err
	}
	return o, paths, nil
}

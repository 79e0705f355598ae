package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

// cmdCheck validates rule files: exit 1 with file:line errors.
func cmdCheck(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	tz := fs.String("tz", "", "time zone of schedules (default: the configuration's, else the machine's)")
	configFile := fs.String("config", "", "configuration file (time zone, latitude and longitude)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(e.stderr, "usage: alexarules check PATH...")
		return exitUsage
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		fmt.Fprintf(e.stderr, "check: %v\n", err)
		return exitUsage
	}
	loc, err := cfg.location()
	if err != nil {
		fmt.Fprintf(e.stderr, "check: %v\n", err)
		return exitUsage
	}
	place, err := cfg.place()
	if err != nil {
		fmt.Fprintf(e.stderr, "check: %v\n", err)
		return exitUsage
	}
	if *tz != "" {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			fmt.Fprintf(e.stderr, "check: --tz: %v\n", err)
			return exitUsage
		}
		loc = l
	}
	set, err := rules.Load(rules.Options{Clock: engine.RealClock{}, Location: loc, Place: place, Bind: bindForCheck()}, fs.Args()...)
	if err != nil {
		fmt.Fprintf(e.stderr, "check: %v\n", err)
		return exitUsage
	}
	for _, err := range set.Errors {
		fmt.Fprintln(e.stderr, err)
	}
	for _, l := range set.Rules {
		fmt.Fprintf(e.stdout, "ok  %s (%s:%d)\n", l.Def.ID, l.Def.File, l.Def.Line)
	}
	if len(set.Errors) > 0 {
		fmt.Fprintf(e.stderr, "%d error(s), %d rule(s) valid\n", len(set.Errors), len(set.Rules))
		return exitFailure
	}
	return exitOK
}

package main

import (
	"fmt"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// checkCmd validates rule files: exit 1 with file:line errors.
func (a *app) checkCmd() *cobra.Command {
	var tz, config string
	c := &cobra.Command{
		Use:   "check PATH...",
		Short: "validate rule files; exit 1 with file:line errors",
		Args:  cobra.MinimumNArgs(1),
	}
	c.Flags().StringVar(&tz, "tz", "", "time zone of schedules (default: the configuration's, else the machine's)")
	c.Flags().StringVar(&config, "config", "", "configuration file (time zone, latitude and longitude; docs/CONFIG.md)")
	c.RunE = a.action(func(_ *cobra.Command, paths []string) error {
		cfg, err := host.LoadConfig(config)
		if err != nil {
			return err
		}
		if tz != "" {
			cfg.Timezone = tz
		}
		set, err := host.Check(cfg, paths...)
		if err != nil {
			return err
		}
		for _, err := range set.Errors {
			fmt.Fprintln(a.stderr, err)
		}
		for _, l := range set.Rules {
			fmt.Fprintf(a.stdout, "ok  %s (%s:%d)\n", l.Def.ID, l.Def.File, l.Def.Line)
		}
		if len(set.Errors) > 0 {
			fmt.Fprintf(a.stderr, "%d error(s), %d rule(s) valid\n", len(set.Errors), len(set.Rules))
			return errReported
		}
		return nil
	})
	return c
}

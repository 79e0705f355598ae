package main

import (
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// devicesCmd lists the endpoints with their names, ids and features, and
// the Echo devices when the web API is configured.
func (a *app) devicesCmd() *cobra.Command {
	var f accountFlags
	c := &cobra.Command{
		Use:   "devices [flags]",
		Short: "list endpoints and Echo devices with names and ids",
		Args:  cobra.NoArgs,
	}
	f.add(c.Flags(), "data file holding the stored login")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		cfg, err := f.load(cmd.Flags())
		if err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		devs, err := host.ListDevices(cmd.Context(), cfg, a.getenv, log)
		if err == nil || devs.EchosConfigured { // the endpoints came (or there are none to come)
			a.printDevices(devs, err == nil)
		}
		return err
	})
	return c
}

// printDevices prints the endpoints, and the Echos when they came.
func (a *app) printDevices(devs host.Devices, echos bool) {
	if devs.EndpointsConfigured {
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tFEATURES")
		for _, ep := range devs.Endpoints {
			var feats []string
			for _, f := range ep.Features {
				feats = append(feats, f.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ep.FriendlyName, ep.ID, strings.Join(feats, ","))
		}
		tw.Flush()
	} else {
		fmt.Fprintln(a.stdout, "(Endpoint Features devices need a Login with Amazon client: docs/ALEXA.md)")
	}
	if !devs.EchosConfigured {
		fmt.Fprintln(a.stdout, "\n(Echo devices need `alexarules login`, or the Alexa web cookie: alexa.cookie in the config file or ALEXARULES_COOKIE)")
		return
	}
	if !echos {
		return
	}
	fmt.Fprintln(a.stdout)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ECHO\tSERIAL\tTYPE\tFAMILY\tTIME ZONE\tONLINE")
	for _, ec := range devs.Echos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\n", ec.Name, ec.Serial, ec.Type, ec.Family, ec.Timezone, ec.Online)
	}
	tw.Flush()
}

package main

import (
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alexarules/alexarules/alexa/smarthome"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
)

// devicesHelp is the help of --devices on run and devices.
const devicesHelp = "device() backend: smarthome (the Alexa app's household smart-home API) or features (Endpoint Features, Smart Properties); default smarthome for an app login, features for LWA and for --cloud without credentials"

// devicesCmd lists the devices of both backends with their names and ids
// (Endpoint Features endpoints, smart-home devices and groups), and the
// Echo devices when the web API is configured.
func (a *app) devicesCmd() *cobra.Command {
	var (
		f       accountFlags
		backend string
		detail  bool
	)
	c := &cobra.Command{
		Use:   "devices [flags]",
		Short: "list endpoints and Echo devices with names and ids",
		Args:  cobra.NoArgs,
	}
	f.add(c.Flags(), "data file holding the stored login")
	c.Flags().StringVar(&backend, "devices", "", devicesHelp+"; without it, every backend the account reaches is listed")
	c.Flags().BoolVar(&detail, "detail", false, "also each Echo's wake word, Do Not Disturb and Wi-Fi, the household's members and the web session check")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		cfg, err := f.load(cmd.Flags())
		if err != nil {
			return err
		}
		override(cmd.Flags(), &cfg.Devices, "devices", backend)
		if err := cfg.Validate(); err != nil {
			return err
		}
		log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		devs, err := host.ListDevices(cmd.Context(), cfg, a.getenv, log, host.ListOptions{EchoDetail: detail})
		if err != nil {
			return err
		}
		a.printDevices(devs)
		return devs.Err()
	})
	return c
}

// printDevices prints each backend's devices, or why it has none, one
// block each, blocks apart by a blank line.
func (a *app) printDevices(devs host.Devices) {
	out := &blocks{w: a.stdout}
	a.printEndpoints(out, devs)
	if devs.SmartHomeConfigured && devs.SmartHomeErr == nil {
		a.printSmartHome(out, devs.SmartHome)
	}
	a.printEchos(out, devs)
}

// blocks separates the blocks of the devices listing with one blank
// line, none before the first.
type blocks struct {
	w       io.Writer
	started bool
}

// next starts a block and returns where to write it.
func (b *blocks) next() io.Writer {
	if b.started {
		fmt.Fprintln(b.w)
	}
	b.started = true
	return b.w
}

func (a *app) printEndpoints(out *blocks, devs host.Devices) {
	switch {
	case devs.EndpointsConfigured && devs.EndpointsErr == nil:
		tw := tabwriter.NewWriter(out.next(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tID\tFEATURES")
		for _, ep := range devs.Endpoints {
			var feats []string
			for _, f := range ep.Features {
				feats = append(feats, f.Name)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", ep.FriendlyName, ep.ID, strings.Join(feats, ","))
		}
		tw.Flush()
	case !devs.EndpointsConfigured && devs.SmartHomeConfigured:
	case !devs.EndpointsConfigured:
		fmt.Fprintln(out.next(), "(Endpoint Features devices need a Login with Amazon client: docs/ALEXA.md)")
	}
}

func (a *app) printEchos(out *blocks, devs host.Devices) {
	if !devs.EchosConfigured {
		fmt.Fprintln(out.next(), "(Echo devices need `alexarules login`, or the Alexa web cookie: alexa.cookie in the config file or ALEXARULES_COOKIE)")
		return
	}
	if devs.EchosErr != nil {
		return
	}
	d := devs.EchoDetail
	tw := tabwriter.NewWriter(out.next(), 0, 4, 2, ' ', 0)
	head := "ECHO\tSERIAL\tTYPE\tFAMILY\tTIME ZONE\tONLINE"
	if d != nil {
		head += "\tWAKE WORD\tDND\tWI-FI\tMAC"
	}
	fmt.Fprintln(tw, head)
	for _, ec := range devs.Echos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t", ec.Name, ec.Serial, ec.Type, ec.Family, ec.Timezone, ec.Online)
		if d != nil {
			dnd, wifi := "-", d.Wifi[ec.Serial]
			if on, ok := d.DND[ec.Serial]; ok {
				dnd = strconv.FormatBool(on)
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s", cmp.Or(d.WakeWords[ec.Serial], "-"), dnd, cmp.Or(wifi.ESSID, "-"), cmp.Or(wifi.MAC, "-"))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if d != nil {
		a.printEchoDetail(out, d)
	}
}

// printEchoDetail prints the web session check and the household's
// members (devices --detail).
func (a *app) printEchoDetail(out *blocks, d *host.EchoDetail) {
	w := out.next()
	fmt.Fprintf(w, "web session (/api/customer-status): %s\n", cmp.Or(d.Session, "unknown (the check failed)"))
	if len(d.Members) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOUSEHOLD MEMBER\tROLE\tID")
	for _, m := range d.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", cmp.Or(m.FullName, m.FirstName, m.Email), m.Role, m.ID)
	}
	tw.Flush()
}

// printSmartHome prints the household smart-home devices and groups: a
// device's interfaces, a group's members.
func (a *app) printSmartHome(out *blocks, ents []smarthome.Entity) {
	names := make(map[string]string, len(ents))
	for _, e := range ents {
		names[e.ID] = e.Name
	}
	tw := tabwriter.NewWriter(out.next(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SMART HOME\tID\tTYPE\tCAN / MEMBERS")
	for _, e := range ents {
		var what []string
		if e.IsGroup() {
			for _, m := range e.Members {
				what = append(what, cmp.Or(names[m], m))
			}
		} else {
			for _, c := range e.Capabilities {
				what = append(what, strings.TrimSuffix(strings.TrimPrefix(c, "Alexa."), "Controller"))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.ID, strings.Join(e.Types, ","), strings.Join(what, ", "))
	}
	tw.Flush()
}

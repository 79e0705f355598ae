package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/web"
)

// accountFlags are the flags of the commands that talk to an Alexa
// account without running the engine (devices, login).
type accountFlags struct {
	config, cloud, data *string
}

func newAccountFlags(fs *flag.FlagSet, dataHelp string) accountFlags {
	return accountFlags{
		config: fs.String("config", "", "configuration file (client id and secret, region, cookie)"),
		cloud:  fs.String("cloud", "", "base URL replacing every Amazon host (e.g. the simulator)"),
		data:   fs.String("data", "", dataHelp+" (default alexarules.db)"),
	}
}

// load reads the configuration file and applies the flags over it.
func (f accountFlags) load() (fileConfig, error) {
	cfg, err := loadConfig(*f.config)
	if err != nil {
		return cfg, err
	}
	if *f.cloud != "" {
		cfg.Cloud = *f.cloud
	}
	if *f.data != "" {
		cfg.Data = *f.data
	}
	if cfg.Data == "" {
		cfg.Data = "alexarules.db"
	}
	return cfg, nil
}

// cmdDevices lists the endpoints with their names, ids and features, and
// the Echo devices when the web API is configured.
func cmdDevices(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("devices", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	flags := newAccountFlags(fs, "data file holding the stored login")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := flags.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitUsage
	}
	log, _ := newLogger(e, "warn")
	acfg := cfg.alexaConfig(e.getenv)
	st, err := openStoreIfFree(cfg.Data, log)
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitUsage
	}
	if st != nil {
		defer st.Close()
	}
	if !alexaConfigured(acfg) && !hasStoredToken(st) {
		fmt.Fprintln(e.stderr, "devices: no Alexa credentials: run `alexarules login`, set them in the config file, or give --cloud URL")
		return exitUsage
	}
	client, err := newAlexaClient(ctx, acfg, st, log)
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitUsage
	}
	eps, err := client.Endpoints(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitFailure
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tFEATURES")
	for _, ep := range eps {
		var feats []string
		for _, f := range ep.Features {
			feats = append(feats, f.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ep.FriendlyName, ep.ID, strings.Join(feats, ","))
	}
	tw.Flush()
	cookie, ok := webConfigured(cfg, e.getenv)
	if !ok {
		fmt.Fprintln(e.stdout, "\n(Echo devices need the Alexa web cookie: alexa.cookie in the config file or ALEXARULES_COOKIE)")
		return exitOK
	}
	hosts, err := alexa.HostsFor(acfg.Region, acfg.Cloud)
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitUsage
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: cookie, Logger: log})
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: %v\n", err)
		return exitUsage
	}
	echos, err := wc.Echos(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "devices: Echo devices: %v\n", err)
		return exitFailure
	}
	fmt.Fprintln(e.stdout)
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ECHO\tSERIAL\tTYPE\tFAMILY\tTIME ZONE\tONLINE")
	for _, ec := range echos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%t\n", ec.Name, ec.Serial, ec.Type, ec.Family, ec.Timezone, ec.Online)
	}
	tw.Flush()
	return exitOK
}

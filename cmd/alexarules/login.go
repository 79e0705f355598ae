package main

import (
	"fmt"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// accountFlags are the flags of the commands that talk to an Alexa
// account without running the engine (devices, login).
type accountFlags struct {
	config, cloud, data string
}

func (f *accountFlags) add(fl *pflag.FlagSet, dataHelp string) {
	fl.StringVar(&f.config, "config", "", "configuration file (client id and secret, region, cookie; docs/CONFIG.md)")
	fl.StringVar(&f.cloud, "cloud", "", "base URL replacing every Amazon host (e.g. the simulator)")
	fl.StringVar(&f.data, "data", "", dataHelp+" (default "+host.DefaultData+")")
}

// load reads the configuration file and applies the flags over it.
func (f *accountFlags) load(fl *pflag.FlagSet) (host.Config, error) {
	cfg, err := host.LoadConfig(f.config)
	if err != nil {
		return cfg, err
	}
	override(fl, &cfg.Cloud, "cloud", f.cloud)
	override(fl, &cfg.Data, "data", f.data)
	return cfg.WithDefaults(), nil
}

// loginCmd signs in to Amazon and stores the login in the data file:
// as the Alexa app (households, the default) or with Login with Amazon.
func (a *app) loginCmd() *cobra.Command {
	var (
		f          accountFlags
		kind       string
		device, pu bool
	)
	c := &cobra.Command{
		Use:   "login [flags]",
		Short: "sign in to Amazon; stores the login in the data file",
		Long: `login signs in to Amazon and stores the login in the data file (mode 0600).

--auth app (the default, for households) signs in as the Alexa app does: it prints
one line with http://127.0.0.1:PORT/ to open in a browser, where Amazon's own sign-in
pages (password, OTP, captcha) are served through alexarules, then registers a
virtual app device with the account. --url prints Amazon's sign-in URL instead and
reads the address of the final page (.../ap/maplanding?...) from standard input.

--auth lwa is Login with Amazon with a security profile (Alexa Smart Properties).

Exit codes: 0 logged in and stored, 1 login refused (nothing changed), 2 usage error.`,
		Args: cobra.NoArgs,
	}
	f.add(c.Flags(), "data file to store the login in")
	c.Flags().StringVar(&kind, "auth", host.AccountApp, "how to sign in: app (Alexa app device registration, households) or lwa (Login with Amazon)")
	c.Flags().BoolVar(&pu, "url", false, "with --auth app: print the sign-in URL and read the final /ap/maplanding URL from stdin (no browser on this machine)")
	c.Flags().BoolVar(&device, "device", false, "Login with Amazon's code-pair flow (enter a code on another device) instead of a browser redirect; implies --auth lwa")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		cfg, err := f.load(cmd.Flags())
		if err != nil {
			return err
		}
		if device && !cmd.Flags().Changed("auth") {
			kind = host.AccountLWA // --device has only ever been Login with Amazon
		}
		switch {
		case kind != host.AccountApp && kind != host.AccountLWA:
			return usagef("--auth %q: want app or lwa", kind)
		case kind == host.AccountApp && device:
			return usagef("--device is a Login with Amazon flow: give --auth lwa")
		case kind == host.AccountLWA && pu:
			return usagef("--url is an app sign-in: drop --auth lwa")
		case kind == host.AccountLWA:
			if err := host.Login(cmd.Context(), cfg, a.getenv, host.LoginOptions{Device: device, Out: a.stdout}); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "logged in with Login with Amazon; the refresh token is stored in %s\n", cfg.Data)
			return nil
		}
		log, err := newLogger(a.stderr, cfg)
		if err != nil {
			return err
		}
		o := host.AppLoginOptions{URL: pu, In: a.stdin, Out: a.stdout, Logger: log}
		if err := host.LoginApp(cmd.Context(), cfg, a.getenv, o); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "logged in as the Alexa app; the session is stored in %s\n", cfg.Data)
		return nil
	})
	return c
}

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

// loginCmd runs Login with Amazon and stores the refresh token in the
// data file.
func (a *app) loginCmd() *cobra.Command {
	var (
		f      accountFlags
		device bool
	)
	c := &cobra.Command{
		Use:   "login [flags]",
		Short: "Login with Amazon; stores the refresh token in the data file",
		Args:  cobra.NoArgs,
	}
	f.add(c.Flags(), "data file to store the token in")
	c.Flags().BoolVar(&device, "device", false, "use the code-pair flow (enter a code on another device) instead of a browser redirect")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		cfg, err := f.load(cmd.Flags())
		if err != nil {
			return err
		}
		if err := host.Login(cmd.Context(), cfg, a.getenv, host.LoginOptions{Device: device, Out: a.stdout}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "logged in; the refresh token is stored in %s\n", cfg.Data)
		return nil
	})
	return c
}

package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/spf13/cobra"
)

// simCmd serves the simulated Alexa cloud.
func (a *app) simCmd() *cobra.Command {
	var listen, householdFile, tlsDir string
	c := &cobra.Command{
		Use:   "sim --listen ADDR [flags]",
		Short: "serve the simulated Alexa cloud (docs/SIMULATOR.md)",
		Args:  cobra.NoArgs,
	}
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:9000", "address to listen on")
	c.Flags().StringVar(&householdFile, "household", "", "household JSON (default: the demo household)")
	c.Flags().StringVar(&tlsDir, "tls", "", "serve HTTPS with a self-signed certificate written to this directory")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		h := sim.DemoHousehold()
		if householdFile != "" {
			f, err := os.Open(householdFile)
			if err != nil {
				return usageError{err}
			}
			h, err = sim.LoadHousehold(f)
			f.Close()
			if err != nil {
				return usagef("%s: %w", householdFile, err)
			}
		}
		srv := sim.New(h, sim.Options{Logger: slog.New(slog.NewTextHandler(a.stderr, nil))})
		scheme := "http"
		ready := func(addr string) {
			fmt.Fprintf(a.stdout, "simulated Alexa cloud on %s://%s (refresh token %q)\n", scheme, addr, sim.SimRefreshToken)
		}
		if tlsDir == "" {
			return srv.ListenAndServe(cmd.Context(), listen, ready)
		}
		scheme = "https"
		cert, err := sim.WriteSelfSignedCert(tlsDir, time.Now())
		if err != nil {
			return fmt.Errorf("--tls: %w", err)
		}
		return srv.ListenAndServeTLS(cmd.Context(), listen, cert, ready)
	})
	return c
}

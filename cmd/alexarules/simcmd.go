package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// cmdSim serves the simulated Alexa cloud.
func cmdSim(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	listen := fs.String("listen", "127.0.0.1:9000", "address to listen on")
	householdFile := fs.String("household", "", "household JSON (default: the demo household)")
	tlsDir := fs.String("tls", "", "serve HTTPS with a self-signed certificate written to this directory")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	h := sim.DemoHousehold()
	if *householdFile != "" {
		f, err := os.Open(*householdFile)
		if err != nil {
			fmt.Fprintf(e.stderr, "sim: %v\n", err)
			return exitUsage
		}
		h, err = sim.LoadHousehold(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(e.stderr, "sim: %s: %v\n", *householdFile, err)
			return exitUsage
		}
	}
	log, _ := newLogger(e, "")
	srv := sim.New(h, sim.Options{Logger: log})
	scheme := "http"
	ready := func(addr string) {
		fmt.Fprintf(e.stdout, "simulated Alexa cloud on %s://%s (refresh token %q)\n", scheme, addr, sim.SimRefreshToken)
	}
	var err error
	if *tlsDir != "" {
		scheme = "https"
		cert, cerr := sim.WriteSelfSignedCert(*tlsDir, time.Now())
		if cerr != nil {
			fmt.Fprintf(e.stderr, "sim: --tls: %v\n", cerr)
			return exitUsage
		}
		err = srv.ListenAndServeTLS(ctx, *listen, cert, ready)
	} else {
		err = srv.ListenAndServe(ctx, *listen, ready)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "sim: %v\n", err)
		return exitUsage
	}
	return exitOK
}

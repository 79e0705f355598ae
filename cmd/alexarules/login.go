package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/engine/store"
	"golang.org/x/oauth2"
)

// cmdLogin runs Login with Amazon and stores the refresh token in the
// data file.
func cmdLogin(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	flags := newAccountFlags(fs, "data file to store the token in")
	device := fs.Bool("device", false, "use the code-pair flow (enter a code on another device) instead of a browser redirect")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, err := flags.load()
	if err != nil {
		fmt.Fprintf(e.stderr, "login: %v\n", err)
		return exitUsage
	}
	acfg := cfg.alexaConfig(e.getenv).WithDefaults()
	if acfg.ClientID == "" {
		fmt.Fprintln(e.stderr, "login: no client id: set alexa.client_id in the config file or ALEXARULES_CLIENT_ID")
		return exitUsage
	}
	st, err := store.Open(cfg.Data, store.Options{})
	if err != nil {
		fmt.Fprintf(e.stderr, "login: %v\n", err)
		return exitUsage
	}
	defer st.Close()
	login := func() (*oauth2.Token, error) { return alexa.LoginAuthCode(ctx, acfg, nil, e.stdout) }
	if *device {
		login = func() (*oauth2.Token, error) { return alexa.LoginDevice(ctx, acfg, e.stdout) }
	}
	tok, err := login()
	if err != nil {
		fmt.Fprintf(e.stderr, "login: %v\n", err)
		return exitFailure
	}
	if err := (tokenStore{st}).SaveToken(tok); err != nil {
		fmt.Fprintf(e.stderr, "login: store the token: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "logged in; the refresh token is stored in %s\n", cfg.Data)
	return exitOK
}

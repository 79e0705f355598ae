package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
	"golang.org/x/oauth2"
)

// Check loads and validates the rule files under paths as `run` would,
// in the configuration's time zone and place, with the bound API and no
// account behind it (nothing runs). Errors in files are in the Set.
func Check(cfg Config, paths ...string) (*rules.Set, error) {
	loc, err := cfg.Location()
	if err != nil {
		return nil, &ConfigError{err}
	}
	place, err := cfg.Place()
	if err != nil {
		return nil, &ConfigError{err}
	}
	set, err := rules.Load(rules.Options{Clock: engine.RealClock{}, Location: loc, Place: place,
		Bind: newBinder(nil, nil, nil, engine.RealClock{})}, paths...)
	if err != nil {
		return nil, &ConfigError{err}
	}
	return set, nil
}

// LoginOptions choose the Login with Amazon flow.
type LoginOptions struct {
	// Device uses the code-pair flow (a code entered on another device)
	// instead of a browser redirect.
	Device bool
	// Out receives what the user must open or enter.
	Out io.Writer
}

// Login runs Login with Amazon for the configured client and stores the
// token in the data file.
func Login(ctx context.Context, cfg Config, getenv func(string) string, o LoginOptions) error {
	cfg = cfg.WithDefaults()
	acfg := cfg.AlexaConfig(getenv).WithDefaults()
	if acfg.ClientID == "" {
		return configErrorf("no client id: set alexa.client_id in the config file or ALEXARULES_CLIENT_ID")
	}
	st, err := openForLogin(cfg.Data, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	var tok *oauth2.Token
	if o.Device {
		tok, err = auth.LoginDevice(ctx, acfg, o.Out)
	} else {
		tok, err = auth.LoginAuthCode(ctx, acfg, nil, o.Out)
	}
	if err != nil {
		return err
	}
	if err := (TokenStore{st}).SaveToken(tok); err != nil {
		return fmt.Errorf("store the token: %w", err)
	}
	return saveAccount(st, AccountLWA)
}

// Devices is what an account has: its endpoints and, when the web API is
// configured, its Echo devices.
type Devices struct {
	Endpoints []features.Endpoint
	Echos     []web.Echo
	// EchosConfigured is false when there is no web cookie (no Echos).
	EchosConfigured bool
}

// ListDevices fetches the account's endpoints and Echo devices. It uses
// the stored login unless a running engine holds the data file.
func ListDevices(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger) (Devices, error) {
	cfg = cfg.WithDefaults()
	acfg := cfg.AlexaConfig(getenv)
	st, err := openStoreIfFree(cfg.Data, log)
	if err != nil {
		return Devices{}, err
	}
	if st != nil {
		defer st.Close()
	}
	if !alexaConfigured(acfg) && !hasStoredToken(st) {
		return Devices{}, configErrorf("no Alexa credentials: run `alexarules login`, set them in the config file, or give --cloud URL")
	}
	client, _, err := newAlexaClient(ctx, acfg, st, log, nil)
	if err != nil {
		return Devices{}, err
	}
	var out Devices
	if out.Endpoints, err = client.Endpoints(ctx); err != nil {
		return out, err
	}
	cookie, ok := cfg.WebCookie(getenv)
	if !ok {
		return out, nil
	}
	hosts, err := alexa.HostsFor(acfg.Region, acfg.Cloud)
	if err != nil {
		return out, &ConfigError{err}
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: cookie, Logger: log})
	if err != nil {
		return out, &ConfigError{err}
	}
	out.EchosConfigured = true
	if out.Echos, err = wc.Echos(ctx); err != nil {
		return out, fmt.Errorf("echo devices: %w", err)
	}
	return out, nil
}

// IsConfigError reports whether err is a usage or configuration error.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

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
	"github.com/alexarules/alexarules/engine/store"
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

// Devices is what an account has: its endpoints when the Endpoint
// Features API is configured and, when the web API is, its Echo devices.
type Devices struct {
	Endpoints []features.Endpoint
	// EndpointsConfigured is false without Endpoint Features credentials
	// (a household account alone).
	EndpointsConfigured bool
	Echos               []web.Echo
	// EchosConfigured is false when there is neither a household session
	// nor a web cookie (no Echos).
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
	sess, err := householdSession(st)
	if err != nil {
		return Devices{}, err
	}
	var out Devices
	out.EndpointsConfigured = alexaConfigured(acfg) || hasStoredToken(st)
	if !out.EndpointsConfigured && sess == nil {
		return out, configErrorf("no Alexa credentials: run `alexarules login`, set them in the config file, or give --cloud URL")
	}
	if out.EndpointsConfigured {
		client, _, err := newAlexaClient(ctx, acfg, st, log, nil)
		if err != nil {
			return out, err
		}
		if out.Endpoints, err = client.Endpoints(ctx); err != nil {
			return out, err
		}
	}
	wo, ok, err := devicesWeb(cfg, acfg, getenv, st, sess, log)
	if err != nil || !ok {
		return out, err
	}
	wc, err := web.New(wo)
	if err != nil {
		return out, &ConfigError{err}
	}
	out.EchosConfigured = true
	if out.Echos, err = wc.Echos(ctx); err != nil {
		return out, fmt.Errorf("echo devices: %w", err)
	}
	return out, nil
}

// devicesWeb returns the web client's options for ListDevices: the
// household session's (refreshed as needed, and saved when the data file
// is ours), else the configured cookie; ok is false with neither.
func devicesWeb(cfg Config, acfg alexa.Config, getenv func(string) string, st *store.Store, sess *auth.Session,
	log *slog.Logger) (o web.Options, ok bool, err error) {
	hosts, err := alexa.HostsFor(acfg.Region, acfg.Cloud)
	if err != nil {
		return o, false, &ConfigError{err}
	}
	if sess != nil {
		k, err := newKeeper(hosts, st, sess, engine.RealClock{}, log, nil)
		if err != nil {
			return o, false, err
		}
		acc, err := keeperAccess(k)
		if err != nil {
			return o, false, &ConfigError{err}
		}
		acc.web.Logger = log
		return acc.web, true, nil
	}
	cookie, ok := cfg.WebCookie(getenv)
	return web.Options{Hosts: hosts, Cookie: cookie, Logger: log}, ok, nil
}

// IsConfigError reports whether err is a usage or configuration error.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

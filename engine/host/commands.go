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
	"github.com/alexarules/alexarules/alexa/smarthome"
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

// Devices is what an account has, by backend: its Endpoint Features
// endpoints, its household smart-home devices and groups, its Echo
// devices. A backend is listed when the account reaches it (and, with
// devices or --devices set, only that device backend); its Err is the
// failure to fetch it.
type Devices struct {
	Endpoints []features.Endpoint
	// EndpointsConfigured is false without Endpoint Features credentials
	// (a household account alone) or when --devices smarthome.
	EndpointsConfigured bool
	EndpointsErr        error
	SmartHome           []smarthome.Entity
	// SmartHomeConfigured is false without a web session (a household
	// login or a cookie) or when --devices features.
	SmartHomeConfigured bool
	SmartHomeErr        error
	Echos               []web.Echo
	// EchosConfigured is false when there is neither a household session
	// nor a web cookie (no Echos).
	EchosConfigured bool
	EchosErr        error
	// EchoDetail is set when ListOptions.EchoDetail asked for it and the
	// Echos were listed.
	EchoDetail *EchoDetail
}

// Err joins the failures of the backends.
func (d Devices) Err() error {
	err := errors.Join(d.EndpointsErr, d.SmartHomeErr, d.EchosErr)
	if d.EchoDetail != nil {
		err = errors.Join(err, d.EchoDetail.Err)
	}
	return err
}

// ListOptions choose what ListDevices reads besides the device lists.
type ListOptions struct {
	// EchoDetail reads each Echo's wake word, Do Not Disturb and Wi-Fi,
	// the household's members and the web session check (one request per
	// Echo for the Wi-Fi, four more in all).
	EchoDetail bool
}

// ListDevices fetches the account's devices of every backend it reaches.
// It uses the stored login unless a running engine holds the data file.
// The error is a configuration problem; a backend's failure is in its Err.
func ListDevices(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger, o ListOptions) (Devices, error) {
	cfg = cfg.WithDefaults()
	acfg := cfg.AlexaConfig(getenv)
	st, err := openStoreIfFree(cfg.Data, log)
	if err != nil {
		return Devices{}, err
	}
	if st != nil {
		defer st.Close()
	}
	_, hasCookie := cfg.WebCookie(getenv)
	sess, kinds, err := accountOf(acfg, st, hasCookie)
	if err != nil {
		return Devices{}, err
	}
	if !kinds.features && !kinds.web {
		return Devices{}, configErrorf("no Alexa credentials: run `alexarules login`, set them in the config file, or give --cloud URL")
	}
	if _, err := cfg.deviceBackend(kinds); err != nil {
		return Devices{}, err
	}
	var out Devices
	out.EndpointsConfigured = kinds.features && cfg.Devices != DevicesSmartHome
	out.SmartHomeConfigured = kinds.web && cfg.Devices != DevicesFeatures
	if out.EndpointsConfigured {
		out.Endpoints, out.EndpointsErr = listEndpoints(ctx, acfg, st, log)
	}
	if !kinds.web {
		return out, nil
	}
	acc, err := devicesWeb(cfg, acfg, getenv, st, sess, log)
	if err != nil {
		return out, err
	}
	if out.SmartHomeConfigured {
		out.SmartHome, out.SmartHomeErr = listSmartHome(ctx, cfg, acc, log)
	}
	out.EchosConfigured = true
	wc, err := web.New(acc.web)
	if err != nil {
		return out, &ConfigError{err}
	}
	out.Echos, out.EchosErr = wc.Echos(ctx)
	if out.EchosErr != nil {
		out.EchosErr = fmt.Errorf("echo devices: %w", out.EchosErr)
	} else if o.EchoDetail {
		out.EchoDetail = readEchoDetail(ctx, wc, out.Echos)
	}
	return out, nil
}

// listEndpoints fetches the Endpoint Features endpoints.
func listEndpoints(ctx context.Context, acfg alexa.Config, st *store.Store, log *slog.Logger) ([]features.Endpoint, error) {
	client, _, err := newAlexaClient(ctx, acfg, st, log, nil)
	if err != nil {
		return nil, err
	}
	eps, err := client.Endpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	return eps, nil
}

// listSmartHome discovers the smart-home devices and groups.
func listSmartHome(ctx context.Context, cfg Config, acc webAccess, log *slog.Logger) ([]smarthome.Entity, error) {
	client, err := newSmartHome(cfg, acc, engine.RealClock{}, log, nil)
	if err != nil {
		return nil, err
	}
	ents, err := client.Entities(ctx)
	if err != nil {
		return nil, fmt.Errorf("smart-home devices: %w", err)
	}
	return ents, nil
}

// devicesWeb is the web session of ListDevices: the household session's
// (refreshed as needed, and saved when the data file is ours), else the
// configured cookie.
func devicesWeb(cfg Config, acfg alexa.Config, getenv func(string) string, st *store.Store, sess *auth.Session,
	log *slog.Logger) (webAccess, error) {
	hosts, err := alexa.HostsFor(acfg.Region, acfg.Cloud)
	if err != nil {
		return webAccess{}, &ConfigError{err}
	}
	if sess != nil {
		k, err := newKeeper(hosts, st, sess, engine.RealClock{}, log, nil)
		if err != nil {
			return webAccess{}, err
		}
		acc, err := keeperAccess(k)
		if err != nil {
			return webAccess{}, &ConfigError{err}
		}
		acc.web.Logger = log
		return acc, nil
	}
	cookie, _ := cfg.WebCookie(getenv)
	return webAccess{hosts: hosts, web: web.Options{Hosts: hosts, Cookie: cookie, Logger: log}}, nil
}

// IsConfigError reports whether err is a usage or configuration error.
func IsConfigError(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}

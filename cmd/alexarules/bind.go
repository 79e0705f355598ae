package main

import (
	"context"
	"log/slog"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// binder installs the bound API into rule states.
type binder = func(*lua.LState, scripting.RunContext)

// deviceBinder binds device() to the endpoints of one Alexa account; a nil
// client means none is configured (device() then says so when used).
func deviceBinder(client *alexa.Client) binder {
	var eps scripting.Endpoints
	if client != nil {
		eps = alexa.NewDirectory(client, alexa.DirectoryOptions{})
	}
	return func(L *lua.LState, run scripting.RunContext) {
		scripting.OpenDevice(L, run, eps, nil)
	}
}

// bindAlexa connects to Alexa when the configuration names an account (or
// --cloud) and returns the binder for rule states; without one, rules that
// need no Alexa still run.
func bindAlexa(ctx context.Context, cfg fileConfig, e env, st *store.Store, log *slog.Logger) (binder, error) {
	acfg := cfg.alexaConfig(e.getenv)
	if !alexaConfigured(acfg) && !hasStoredToken(st) {
		log.Info("no Alexa account configured: device() is unavailable; schedule and event rules run")
		return deviceBinder(nil), nil
	}
	client, err := newAlexaClient(ctx, acfg, st, log)
	if err != nil {
		return nil, err
	}
	return deviceBinder(client), nil
}

// bindForCheck installs the bound API for validation: the same functions
// with no account behind them (nothing runs while checking).
func bindForCheck() binder { return deviceBinder(nil) }

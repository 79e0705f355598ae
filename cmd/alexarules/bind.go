package main

import (
	"context"
	"log/slog"

	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// bindAlexa returns what installs the bound Alexa API into rule states.
func bindAlexa(ctx context.Context, cfg fileConfig, e env, log *slog.Logger) (func(*lua.LState, scripting.RunContext), error) {
	return nil, nil
}

// bindForCheck installs the bound API for validation only.
func bindForCheck() func(*lua.LState, scripting.RunContext) { return nil }

package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

// keyer evaluates a rule's `key` function for the engine (engine.Rule.Key)
// in a Lua state of its own, made on first use: the runner's coordinator
// calls it for every event before the mode applies, while the rule's runs
// use their own states.
type keyer struct {
	l      *Loaded
	log    *slog.Logger
	dryRun bool

	mu sync.Mutex
	in *instance
}

// key returns the event's key: the function's string, or a number as
// text; nil (or false) is the key "". It is stopped at the rule's timeout.
func (k *keyer) key(ev *engine.Event, trigger int) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.in == nil {
		in, err := k.l.newInstance(k.log, k.dryRun)
		if err != nil {
			return "", err
		}
		in.run.keying = true
		k.in = in
	}
	L, def := k.in.L, k.in.def
	ctx, cancel := context.WithTimeout(context.Background(), def.Timeout)
	defer cancel()
	// The same heap budget as the rule's runs (instance.Run).
	guarded := k.l.opts.Guard.Watch(ctx, nil)
	defer guarded.Stop()
	ctx = guarded.Context()
	// Each call starts afresh, as a run does (instance.Run): its log and
	// action budgets are the call's, and its bound functions stop with it.
	k.in.run.reset(ctx)
	L.SetContext(guarded.VM())
	defer L.RemoveContext()
	fn := def.table.RawGetString("key")
	if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, eventTable(L, ev, def, trigger, &k.in.evValues)); err != nil {
		return "", k.failed(ctx, err)
	}
	v := L.Get(-1)
	L.Pop(1)
	switch x := v.(type) {
	case lua.LString:
		return string(x), nil
	case lua.LNumber:
		return x.String(), nil
	case *lua.LNilType:
		return "", nil
	case lua.LBool:
		if !x {
			return "", nil
		}
	}
	return "", fmt.Errorf("the key function must return a string or a number, got %s", v.Type())
}

// failed is the error of a key function that raised one: over the heap
// budget (the state is then dropped, so what it kept is freed and the
// next event gets a fresh one), past the timeout, or the script's error,
// shortened as a run's is.
func (k *keyer) failed(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, scripting.ErrMemoryBudget) {
		k.in.Close()
		k.in = nil
		return fmt.Errorf("the key function: %w", cause)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("the key function did not return within the rule's timeout of %s", k.in.def.Timeout)
	}
	se := scripting.AsScriptError(err)
	se.Msg = scripting.Truncate(se.Msg, k.l.opts.Limits.ErrorBytes)
	return se
}

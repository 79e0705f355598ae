package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// Run is the run in progress in an instance, as the bound API sees it: its
// deadline, where actions are recorded, and whether actions are only
// recorded (dry run). One Run value lives as long as its instance and is
// reset for every invocation.
type Run struct {
	runKeep

	shadow  bool // this invocation's: the engine says per run
	ctx     context.Context
	limits  scripting.Limits
	actions []engine.Action
	// unrecorded counts the actions past limits.Actions.
	unrecorded int
	logs       *scripting.RunLog
	timers     []engine.TimerRequest
	emitted    []engine.Emitted
	changes    []engine.Change
}

// runKeep is what a Run keeps across its instance's rebuilds (a new state
// gets a new Run): whose run it is, how it logs and acts, and the sequence
// of its auto timer ids, which must stay unique.
type runKeep struct {
	Rule   string
	dryRun bool
	keying bool // the state evaluates key functions: actions are never sent
	log    *slog.Logger
	level  slog.Level
	seq    int
}

// Context is the run's context: bound functions that block must use it.
func (r *Run) Context() context.Context {
	if r == nil || r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// Record adds an action and its result to the run's trace, up to the
// run's budget of recorded actions.
func (r *Run) Record(a engine.Action) {
	if len(r.actions) >= r.limits.Actions {
		r.unrecorded++
		return
	}
	r.actions = append(r.actions, a)
}

// Withheld is "" when the run's actions are sent, else the result they
// are recorded with: a dry run's, or a shadow run's.
func (r *Run) Withheld() string {
	switch {
	case r.dryRun, r.keying:
		return engine.ResultDryRun
	case r.shadow:
		return engine.ResultShadow
	}
	return ""
}

// Acted keeps a device change for the engine (reverts).
func (r *Run) Acted(c engine.Change) { r.changes = append(r.changes, c) }

// logLine keeps a line in the trace and writes it to the process log at
// or above the rule's level, both within the run's log budget.
func (r *Run) logLine(level, msg string) {
	line, ok := r.logs.Add(level + ": " + msg)
	if !ok {
		return
	}
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	if l >= r.level {
		r.log.Log(r.Context(), l, line[len(level)+2:], "rule", r.Rule)
	}
}

// reset prepares the run for a new invocation. The slices start anew
// (nil, not emptied): the engine keeps the last run's actions as its
// trace's (engine.Result).
func (r *Run) reset(ctx context.Context) {
	r.ctx, r.actions, r.unrecorded, r.timers, r.emitted, r.changes = ctx, nil, 0, nil, nil, nil
	r.logs.Reset()
}

// traceLog is the run's log for its trace, with a note of what the budget
// left out; one process log line says the same.
func (r *Run) traceLog() []string {
	lines := r.logs.Lines()
	if r.unrecorded > 0 {
		lines = append(lines, fmt.Sprintf("... %d more actions not recorded in this trace (budget %d per run)",
			r.unrecorded, r.limits.Actions))
	}
	if r.logs.Dropped() > 0 || r.unrecorded > 0 {
		r.log.Warn("rule run over its trace budget", "rule", r.Rule,
			"dropped_log_lines", r.logs.Dropped(), "unrecorded_actions", r.unrecorded)
	}
	return lines
}

// Engine turns a loaded rule into the engine's form. dryRun makes its
// instances record actions without sending them.
func (l *Loaded) Engine(log *slog.Logger, dryRun bool) *engine.Rule {
	d := l.Def
	r := &engine.Rule{ID: d.ID, File: d.File, Line: d.Line, Enabled: d.Enabled, Mode: d.Mode, Max: d.Max,
		Timeout: d.Timeout, Throttle: d.Throttle, Shadow: d.Shadow, Handlers: d.Handlers, State: d.State}
	for _, t := range d.Triggers {
		r.Triggers = append(r.Triggers, t.engineTrigger())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r.NewInstance = func() (engine.Instance, error) { return l.newInstance(log, dryRun) }
	if d.HasKey {
		r.Key = (&keyer{l: l, log: log, dryRun: dryRun}).key
	}
	return r
}

type instance struct {
	loaded   *Loaded
	L        *lua.LState // nil after a memory-budget stop, until the next run rebuilds it
	def      *Def
	run      *Run
	ctxTable *lua.LTable
	clock    engine.Clock
	loc      *time.Location
	evValues eventValues
	guarded  *scripting.GuardedRun // the heap guard's watch, reused by every run

	// Per invocation.
	state, stateDefaults json.RawMessage
	global               map[string]json.RawMessage
}

func (l *Loaded) newInstance(log *slog.Logger, dryRun bool) (*instance, error) {
	id := Run{runKeep: runKeep{Rule: l.Def.ID, dryRun: dryRun, log: log}}
	if l.Def.LogLevel != "" {
		_ = id.level.UnmarshalText([]byte(l.Def.LogLevel))
	}
	clock := l.opts.Clock
	if clock == nil {
		clock = engine.RealClock{} // as the sandbox reads it when Options.Clock is nil
	}
	in := &instance{loaded: l, clock: clock, loc: l.opts.Location, stateDefaults: l.Def.State}
	if err := in.load(&id); err != nil {
		return nil, err
	}
	return in, nil
}

// load makes the instance's Lua state: a blank sandboxed state (a spare
// built ahead of need, when one is ready), the rule file run again in it,
// and the rule's table from it. id gives the state's Run what it keeps
// (runKeep): the last state's Run when it is rebuilt.
func (in *instance) load(id *Run) error {
	growStack(0)
	l := in.loaded
	sp := l.opts.spares.take(l.dir)
	defer l.opts.spares.refill()
	L, run := sp.L, sp.run
	run.runKeep = id.runKeep
	defs, err := runChunk(L, l.proto, l.Def.File, l.opts)
	if err != nil {
		L.Close()
		return buildError(l, err)
	}
	var table *lua.LTable
	for _, d := range defs {
		if d.ID == l.Def.ID {
			table = d.table
		}
	}
	if table == nil {
		L.Close()
		return fmt.Errorf("%s no longer defines rule %q", l.Def.File, l.Def.ID)
	}
	def := *l.Def // validated at load, from the same compiled file
	def.table = table
	in.def = &def
	sp.ctx.in = in
	sp.ctx.table.RawSetString("rule", lua.LString(in.def.ID))
	in.L, in.run, in.ctxTable = L, run, sp.ctx.table
	return nil
}

// buildError is why a state of l's rule could not be built, run by run
// (the file and its lib modules are the ones loaded, so that is rare: a
// top level that fails at a later time, or over its budget): the rule, the
// file and line it failed at and, when that is a module's, the line of the
// rule file that called into it; no Lua traceback.
func buildError(l *Loaded, err error) error {
	if _, ok := errors.AsType[*LoadError](err); ok {
		return fmt.Errorf("rule %q: building its state: %w", l.Def.ID, err)
	}
	se := scripting.AsScriptError(err)
	se.Msg = scripting.Truncate(se.Msg, l.opts.Limits.ErrorBytes)
	if line := se.LineIn(l.Def.File); line > 0 && se.File != l.Def.File {
		return fmt.Errorf("rule %q: building its state: %w (from %s:%d)", l.Def.ID, se, l.Def.File, line)
	}
	return fmt.Errorf("rule %q: building its state: %w", l.Def.ID, se)
}

// stackReserve is the goroutine stack a rule file's run needs (the Lua
// VM's calls are deep).
const stackReserve = 16 << 10

// growStack makes the calling goroutine's stack big enough for loading a
// rule: the engine builds an instance on the new goroutine that will own
// it, whose stack starts small, and growing it while the Lua VM is deep in
// calls copied it several times, each copy adjusting every frame (a
// quarter of a rebuild's time with 10,000 rules). One frame of
// stackReserve grows it once, while it is shallow.
//
//go:noinline
func growStack(i int) byte {
	var reserve [stackReserve]byte
	return reserve[i]
}

func (in *instance) Close() {
	if in.L != nil {
		in.L.Close()
	}
}

// Run runs the rule's run function for an event, or a handler for a timer,
// within the run's budget (scripting.Limits): the heap guard stops it when
// memory grows past the budget, and the state is then rebuilt so that what
// the rule kept in Lua variables is freed.
func (in *instance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	if in.L == nil {
		if err := in.load(in.run); err != nil {
			return engine.Result{Err: fmt.Errorf("reload after the memory budget stopped a run: %w", err)}
		}
	}
	if in.guarded == nil {
		in.guarded = in.loaded.opts.Guard.Watch(ctx, inv.Cancel)
	} else {
		in.guarded.Again(ctx, inv.Cancel)
	}
	guarded := in.guarded
	defer guarded.Stop()
	ctx = guarded.Context()
	L := in.L
	in.run.reset(ctx)
	in.run.shadow = inv.Shadow
	in.state, in.global = inv.State, inv.Global
	L.SetContext(guarded.VM())
	res, err := in.call(inv)
	L.RemoveContext()
	res.Actions, res.Log = in.run.actions, in.run.traceLog()
	if cause := guarded.Cause(); cause != nil {
		// pcall may have swallowed the cancellation: the cause decides.
		// Drop everything of the old state now, not at the next run.
		L.Close()
		in.L, in.def, in.ctxTable = nil, nil, nil
		res.Err = cause
		return res
	}
	if err != nil {
		se := scripting.AsScriptError(err)
		se.Msg = scripting.Truncate(se.Msg, in.run.limits.ErrorBytes)
		res.Err = se
		return res
	}
	if res.Skipped || res.Err != nil {
		return res
	}
	if err := in.collect(&res); err != nil {
		res.Err = err
		return res
	}
	res.Timers, res.Emitted, res.Changes = lastPerID(in.run.timers), in.run.emitted, in.run.changes
	withheld := in.run.Withheld()
	res.DryRun = withheld == engine.ResultDryRun && len(in.run.actions) > 0
	res.Shadow = withheld == engine.ResultShadow
	return res
}

// call runs the handler or the conditions and run function; res.Err is set
// for errors that are not the Lua code's own.
func (in *instance) call(inv *engine.Invocation) (engine.Result, error) {
	L, c := in.L, in.ctxTable
	c.RawSetString("now", lua.LNumber(epoch(in.clock.Now())))
	c.RawSetString("state", lua.LNil)
	c.RawSetString("global", lua.LNil)
	res := engine.Result{}
	if inv.Handler == engine.RevertHandler {
		return res, in.revert(inv)
	}
	if inv.Handler != "" {
		fn, ok := in.def.table.RawGetString("handlers").(*lua.LTable).RawGetString(inv.Handler).(*lua.LFunction)
		if !ok {
			res.Err = fmt.Errorf("handler %q is not defined in %s (timer %s)", inv.Handler, in.def.File, inv.TimerID)
			return res, nil
		}
		var args any
		if len(inv.Args) > 0 {
			if err := json.Unmarshal(inv.Args, &args); err != nil {
				res.Err = fmt.Errorf("timer %s: arguments: %w", inv.TimerID, err)
				return res, nil
			}
		}
		return res, L.CallByParam(lua.P{Fn: fn, Protect: true}, c, scripting.ToLua(L, args))
	}
	ev := eventTable(L, inv.Event, in.def, inv.TriggerIndex, &in.evValues)
	pass, reason, err := in.conditions(c, ev)
	res.Reason = reason
	if err != nil {
		return res, err
	}
	if !pass {
		res.Skipped = true
		return res, nil
	}
	return res, L.CallByParam(lua.P{Fn: in.def.table.RawGetString("run"), Protect: true}, c, ev)
}

// restoreCalls are the device methods that set each attribute back.
var restoreCalls = map[string]string{"brightness": "set_brightness", "color": "set_color",
	"color_temperature": "set_color_temperature", "volume": "set_volume"}

// restoreChunk calls device(id):call(v) and fails the run with the
// failure's text when the call fails.
const restoreChunk = `local id, call, v = ...
local d = device(id)
local ok, err = d[call](d, v)
if not ok then error(tostring(err), 0) end`

// revert runs a revert_after timer: the device method that sets the
// attribute back to the stored value, through the rule's device() so the
// restore is recorded, withheld in dry and shadow runs, and cancels any
// other pending revert of the attribute like every action.
func (in *instance) revert(inv *engine.Invocation) error {
	var rv engine.Revert
	if err := json.Unmarshal(inv.Args, &rv); err != nil {
		return fmt.Errorf("revert timer %s: %w", inv.TimerID, err)
	}
	call := restoreCalls[rv.Attr]
	var args []lua.LValue
	switch {
	case rv.Attr == "power" && rv.Value == "ON":
		call = "on"
	case rv.Attr == "power" && rv.Value == "OFF":
		call = "off"
	case call != "":
		args = []lua.LValue{scripting.ToLua(in.L, rv.Value)}
	}
	if call == "" {
		return fmt.Errorf("revert timer %s: cannot restore %s to %v", inv.TimerID, rv.Attr, rv.Value)
	}
	L := in.L
	fn, err := L.LoadString(restoreChunk)
	if err != nil {
		return err
	}
	params := append([]lua.LValue{lua.LString(rv.DeviceID), lua.LString(call)}, args...)
	return L.CallByParam(lua.P{Fn: fn, Protect: true}, params...)
}

// conditions evaluates only_if (all must hold) and unless (none may).
func (in *instance) conditions(c, ev *lua.LTable) (bool, string, error) {
	check := func(field string, want bool) (bool, string, error) {
		v := in.def.table.RawGetString(field)
		if v == lua.LNil {
			return true, "", nil
		}
		items := []lua.LValue{v}
		if t, ok := v.(*lua.LTable); ok {
			if _, isCond := scripting.EvalCondition(in.L, t); !isCond {
				items = items[:0]
				for i := 1; i <= t.Len(); i++ {
					items = append(items, t.RawGetInt(i))
				}
			}
		}
		for i, item := range items {
			got, isCond := scripting.EvalCondition(in.L, item)
			if !isCond {
				if err := in.L.CallByParam(lua.P{Fn: item, NRet: 1, Protect: true}, c, ev); err != nil {
					return false, "", err
				}
				got = lua.LVAsBool(in.L.Get(-1))
				in.L.Pop(1)
			}
			if got != want {
				return false, fmt.Sprintf("%s condition %d was %t", field, i+1, got), nil
			}
		}
		return true, "", nil
	}
	if ok, why, err := check("only_if", true); !ok || err != nil {
		return ok, why, err
	}
	return check("unless", false)
}

// collect turns ctx.state and ctx.global back into what changed.
func (in *instance) collect(res *engine.Result) error {
	c := in.ctxTable
	limit := in.run.limits.StateBytes
	if st := c.RawGetString("state"); st != lua.LNil {
		b, err := toJSON(st, limit)
		if err != nil {
			return fmt.Errorf("ctx.state: %w", err)
		}
		if !bytes.Equal(b, in.state) {
			res.State = b
		}
	}
	g, ok := c.RawGetString("global").(*lua.LTable)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var err error
	left := limit // the keys a run changes share one budget
	g.ForEach(func(k, v lua.LValue) {
		key := lua.LVAsString(k)
		seen[key] = true
		if err != nil {
			return
		}
		b, e := toJSON(v, max(left, 1))
		if e != nil {
			err = fmt.Errorf("ctx.global.%s: %w", key, e)
			if errors.Is(e, scripting.ErrTooLarge) {
				err = fmt.Errorf("ctx.global.%s: %w (the keys a run changes share a budget of %d bytes)", key, e, limit)
			}
			return
		}
		if !bytes.Equal(b, in.global[key]) {
			left -= len(b)
			if res.GlobalSet == nil {
				res.GlobalSet = map[string]json.RawMessage{}
			}
			res.GlobalSet[key] = b
		}
	})
	for k := range in.global {
		if !seen[k] {
			res.GlobalDelete = append(res.GlobalDelete, k)
		}
	}
	sort.Strings(res.GlobalDelete)
	return err
}

// toJSON converts plain Lua data to JSON of at most maxBytes (the run's
// state budget); the error then names the limit.
func toJSON(v lua.LValue, maxBytes int) ([]byte, error) {
	x, err := scripting.FromLuaMax(v, maxBytes)
	if errors.Is(err, scripting.ErrTooLarge) {
		return nil, fmt.Errorf("%w (state budget: %d bytes per run)", err, maxBytes)
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// eventValues keeps the Lua strings of the last event's kind, trigger and
// name for the next: the events a rule takes mostly share them, and a
// string becomes a Lua value by an allocation. Lua strings are immutable,
// so tables of earlier runs may share them.
type eventValues struct{ kind, trigger, name lua.LValue }

// reuse returns s as a Lua string: *v when it holds s already, else a new
// one, kept in *v.
func reuse(v *lua.LValue, s string) lua.LValue {
	if cur, ok := (*v).(lua.LString); ok && string(cur) == s {
		return *v
	}
	*v = lua.LString(s)
	return *v
}

// eventTable builds `ev` (RULES.md §3), reusing the strings in keep.
func eventTable(L *lua.LState, ev *engine.Event, d *Def, trigger int, keep *eventValues) *lua.LTable {
	t := L.CreateTable(0, 8)
	if ev == nil {
		return t
	}
	t.RawSetString("id", lua.LString(ev.ID))
	t.RawSetString("kind", reuse(&keep.kind, ev.Kind))
	t.RawSetString("time", lua.LNumber(epoch(ev.Time)))
	if trigger >= 0 && trigger < len(d.Triggers) {
		if id := d.Triggers[trigger].ID(); id != "" {
			t.RawSetString("trigger", reuse(&keep.trigger, id))
		}
	}
	if ev.Device != nil {
		dev := L.CreateTable(0, 2)
		dev.RawSetString("name", lua.LString(ev.Device.Name))
		dev.RawSetString("id", lua.LString(ev.Device.ID))
		t.RawSetString("device", dev)
	}
	if ev.Kind == engine.KindCustom {
		t.RawSetString("name", reuse(&keep.name, ev.Name))
		t.RawSetString("data", scripting.ToLua(L, ev.Data))
		return t
	}
	for k, v := range ev.Data {
		t.RawSetString(k, scripting.ToLua(L, v))
	}
	return t
}

// ruleCtx is a state's ctx table and the instance the state serves: the
// table is made with the state (a spare's, ahead of need) and reaches the
// instance through in once the state is given to one (instance.load).
type ruleCtx struct {
	in    *instance
	table *lua.LTable
	// made is set once the methods (log, emit, after, at, cancel) are
	// made: on a run's first use of one of them. Most rules use none,
	// and a parallel rule keeps max warm states: 2 KB less each.
	made bool
}

// newCtx builds the ctx table once per state; per run only `now`, `state`
// and `global` change, and state/global are built on first use, as are the
// methods.
func newCtx(L *lua.LState) *ruleCtx {
	rc := &ruleCtx{}
	// Sized tables: L.NewTable reserves 32 array and 32 hash slots (about
	// 3 KB), and these live as long as the instance.
	rc.table = L.CreateTable(0, 4) // rule, now, state, global; the methods once made
	// "rule" is set when the state is given to its instance.
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", L.NewFunction(rc.index))
	mt.RawSetString("__newindex", L.NewFunction(rc.newindex))
	L.SetMetatable(rc.table, mt)
	return rc
}

// ctxMethods are ctx's methods, made on their first use in a state
// (ruleCtx.made).
var ctxMethods = []string{"log", "emit", "after", "at", "cancel"}

// index is ctx's __index: state and global on their first use in a run,
// the methods on their first use in the state (a method the rule removed
// stays removed: see newindex).
func (rc *ruleCtx) index(L *lua.LState) int {
	key := L.CheckString(2)
	var v lua.LValue
	switch {
	case key == "state":
		v = rc.in.materializeState(L)
	case key == "global":
		g := L.CreateTable(0, len(rc.in.global))
		for k, raw := range rc.in.global {
			var x any
			if json.Unmarshal(raw, &x) == nil {
				g.RawSetString(k, scripting.ToLua(L, x))
			}
		}
		v = g
	case slices.Contains(ctxMethods, key):
		if rc.made {
			return 0
		}
		rc.makeMethods(L)
		L.Push(rc.table.RawGetString(key))
		return 1
	default:
		return 0
	}
	rc.table.RawSetString(key, v)
	L.Push(v)
	return 1
}

// newindex is ctx's __newindex: an assignment to a method not made yet
// (ctx.emit = stub, ctx.after = nil) makes the methods first, so that what
// the rule assigned stays, as it did when ctx was made with them.
func (rc *ruleCtx) newindex(L *lua.LState) int {
	key := L.Get(2)
	if s, ok := key.(lua.LString); ok && !rc.made && slices.Contains(ctxMethods, string(s)) {
		rc.makeMethods(L)
	}
	L.RawSet(rc.table, key, L.Get(3)) // raises on a nil or NaN key, as an assignment does
	return 0
}

// makeMethods sets ctx.log, emit, after, at and cancel, once per state;
// one the rule set with rawset before is kept.
func (rc *ruleCtx) makeMethods(L *lua.LState) {
	rc.made = true
	set := func(key string, v lua.LValue) {
		if rc.table.RawGetString(key) == lua.LNil {
			rc.table.RawSetString(key, v)
		}
	}
	logT := L.CreateTable(0, len(logLevels))
	for _, level := range logLevels {
		logT.RawSetString(level, L.NewFunction(func(L *lua.LState) int {
			if rc.in.run.logs.Full() {
				rc.in.run.logs.Drop() // not formatted: a dropped line costs nothing
				return 0
			}
			rc.in.run.logLine(level, formatArgs(L))
			return 0
		}))
	}
	set("log", logT)
	set("emit", L.NewFunction(func(L *lua.LState) int { return rc.in.luaEmit(L) }))
	set("after", L.NewFunction(func(L *lua.LState) int {
		d, err := scripting.ParseDuration(L.Get(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		return rc.in.setTimer(L, rc.in.clock.Now().Add(d))
	}))
	set("at", L.NewFunction(func(L *lua.LState) int {
		return rc.in.setTimer(L, rc.in.timeArg(L, 1))
	}))
	set("cancel", L.NewFunction(func(L *lua.LState) int {
		id := L.CheckString(1)
		rc.in.run.timers = append(rc.in.run.timers, engine.TimerRequest{ID: id, Cancel: true})
		return 0
	}))
}

// materializeState builds ctx.state: the stored state, with the rule's
// defaults filling keys it does not have yet.
func (in *instance) materializeState(L *lua.LState) lua.LValue {
	st := map[string]any{}
	if len(in.stateDefaults) > 0 {
		_ = json.Unmarshal(in.stateDefaults, &st)
	}
	if len(in.state) > 0 {
		var stored map[string]any
		if json.Unmarshal(in.state, &stored) == nil {
			maps.Copy(st, stored)
		}
	}
	if in.state == nil {
		// Compare against the defaults so that an untouched state is not
		// written.
		in.state, _ = json.Marshal(st)
	}
	return scripting.ToLua(L, st)
}

func (in *instance) luaEmit(L *lua.LState) int {
	name := L.CheckString(1)
	var data map[string]any
	if v := L.Get(2); v != lua.LNil {
		x, err := scripting.FromLuaMax(v, in.run.limits.StateBytes)
		if errors.Is(err, scripting.ErrTooLarge) {
			L.ArgError(2, fmt.Sprintf("event data %s (state budget: %d bytes)", err, in.run.limits.StateBytes))
		}
		m, ok := x.(map[string]any)
		if err != nil || !ok {
			L.ArgError(2, "table of plain data expected")
		}
		data = m
	}
	in.run.emitted = append(in.run.emitted, engine.Emitted{Name: name, Data: data})
	return 0
}

// timeArg reads a time: epoch seconds, or "HH:MM" for its next occurrence.
func (in *instance) timeArg(L *lua.LState, n int) time.Time {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return scripting.TimeFromLua(v)
	case lua.LString:
		// The next occurrence, with time.next's daylight-saving policy.
		if tod, err := scripting.ParseClock(string(v)); err == nil {
			return scripting.NextClock(in.clock.Now(), in.loc, tod)
		}
	}
	L.ArgError(n, "epoch seconds or \"HH:MM\" expected, got "+lua.LVAsString(L.Get(n)))
	return time.Time{}
}

// setTimer implements ctx.after/ctx.at(when, handler, args?, opts?).
func (in *instance) setTimer(L *lua.LState, due time.Time) int {
	handler := L.CheckString(2)
	if !slices.Contains(in.def.Handlers, handler) {
		L.ArgError(2, fmt.Sprintf("unknown handler %q (handlers: %s)", handler, strings.Join(in.def.Handlers, ", ")))
	}
	var args json.RawMessage
	if v := L.Get(3); v != lua.LNil {
		b, err := toJSON(v, in.run.limits.StateBytes)
		if err != nil {
			L.ArgError(3, "timer arguments must be plain data: "+err.Error())
		}
		args = b
	}
	id := ""
	if opts, ok := L.Get(4).(*lua.LTable); ok {
		if s, ok := opts.RawGetString("id").(lua.LString); ok {
			id = string(s)
		}
	}
	if id == "" {
		in.run.seq++
		id = fmt.Sprintf("%s-%d-%d", handler, in.clock.Now().UnixNano(), in.run.seq)
	}
	if strings.Contains(id, "/") {
		L.ArgError(4, "timer id must not contain '/'")
	}
	in.run.timers = append(in.run.timers, engine.TimerRequest{ID: id, Handler: handler, Args: args, Due: due})
	L.Push(lua.LString(id))
	return 1
}

// formatArgs applies string.format to the call's arguments.
func formatArgs(L *lua.LState) string {
	n := L.GetTop()
	if n == 0 {
		return ""
	}
	if n == 1 {
		return lua.LVAsString(L.Get(1))
	}
	format := L.GetField(L.GetGlobal("string"), "format")
	args := make([]lua.LValue, n)
	for i := range n {
		args[i] = L.Get(i + 1)
	}
	if err := L.CallByParam(lua.P{Fn: format, NRet: 1, Protect: true}, args...); err != nil {
		L.RaiseError("log: %s", err.Error())
	}
	s := lua.LVAsString(L.Get(-1))
	L.Pop(1)
	return s
}

// lastPerID keeps the last request for each timer id: setting and then
// cancelling a timer in one run leaves only the cancel.
func lastPerID(reqs []engine.TimerRequest) []engine.TimerRequest {
	if len(reqs) < 2 {
		return reqs
	}
	last := map[string]int{}
	for i, r := range reqs {
		last[r.ID] = i
	}
	out := reqs[:0:0]
	for i, r := range reqs {
		if last[r.ID] == i {
			out = append(out, r)
		}
	}
	return out
}

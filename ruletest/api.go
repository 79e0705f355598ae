package ruletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// failure is why a test failed: an expectation that did not hold
// (expected, got) or an error, at where (file:line).
type failure struct {
	where, expected, got, err string
	runs                      []string // the test's last runs
}

// failMarker is the Lua error a failed expectation raises to end its test.
const failMarker = "ruletest: expectation failed"

// tester is the t of one test.
type tester struct {
	ctx  context.Context
	L    *lua.LState
	h    *harness
	fail *failure
}

// runTest runs one declared test against a fresh harness.
func runTest(ctx context.Context, o Options, L *lua.LState, d declared, file string, rules []string, data string) *failure {
	h := newHarness(o, filepath.Dir(file), rules, data, o.Location)
	t := &tester{ctx: ctx, L: L, h: h}
	err := L.CallByParam(lua.P{Fn: d.fn, NRet: 0, Protect: true}, t.table())
	cerr := h.close()
	f := t.fail
	switch {
	case f != nil:
	case err != nil:
		f = luaFailure(err, fmt.Sprintf("%s:%d", file, d.line))
	case cerr != nil:
		f = &failure{where: fmt.Sprintf("%s:%d", file, d.line), err: "stopping the engine: " + cerr.Error()}
	default:
		return nil
	}
	f.runs = h.runLines()
	return f
}

// shownRuns is how many of a failed test's last runs its report shows.
const shownRuns = 10

// runLines describe the test's last runs for a failure report: when,
// which rule (and handler), the outcome with its reason or error, and
// the run's log lines.
func (h *harness) runLines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	trs := h.traces[max(0, len(h.traces)-shownRuns):]
	var out []string
	for _, tr := range trs {
		line := tr.Started.In(h.loc).Format("2006-01-02 15:04:05") + " " + tr.Rule
		if tr.Handler != "" {
			line += " (" + tr.Handler + ")"
		}
		line += ": " + tr.Outcome
		if why := strings.TrimSpace(tr.Reason + " " + tr.Error); why != "" {
			line += " (" + why + ")"
		}
		out = append(out, line)
		for _, l := range tr.Log {
			out = append(out, "    "+l)
		}
	}
	return out
}

var luaWhere = regexp.MustCompile(`^([^\s:]+\.lua:\d+): `)

// luaFailure turns a Lua error into a failure at its location (else at
// the test's declaration).
func luaFailure(err error, fallback string) *failure {
	msg := err.Error()
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		msg = ae.Object.String()
	}
	if m := luaWhere.FindStringSubmatch(msg); m != nil {
		return &failure{where: m[1], err: strings.TrimPrefix(msg, m[0])}
	}
	return &failure{where: fallback, err: msg}
}

// table builds the t table.
func (t *tester) table() *lua.LTable {
	fns := map[string]lua.LGFunction{
		"household": t.household, "clock": t.clock, "advance": t.advance, "event": t.event,
		"alarm": t.alarm, "list_add": t.listAdd, "reading": t.reading, "voice": t.voice, "push": t.push, "restart": t.restart,
		"expect_call": t.expectCall, "expect_no_call": t.expectNoCall, "expect_value": t.expectValue,
		"expect_state": t.expectState, "expect_run": t.expectRun,
	}
	tb := t.L.NewTable()
	for name, fn := range fns {
		tb.RawSetString(name, t.L.NewFunction(fn))
	}
	return tb
}

// where is the file:line of the Lua code calling the t function.
func (t *tester) where() string { return strings.TrimSuffix(t.L.Where(1), ":") }

// expectFailed records a failed expectation and ends the test.
func (t *tester) expectFailed(expected, got string) int {
	t.fail = &failure{where: t.where(), expected: expected, got: got}
	t.L.RaiseError(failMarker)
	return 0
}

// check raises a Lua error naming the t function when err is set.
func (t *tester) check(fn string, err error) {
	if err != nil {
		t.L.RaiseError("t.%s: %v", fn, err)
	}
}

// running starts the engine (the household and clock are then fixed).
func (t *tester) running(fn string) *harness {
	t.check(fn, t.h.start(t.ctx))
	return t.h
}

func (t *tester) household(L *lua.LState) int {
	if t.h.started() {
		L.RaiseError("t.household: call it before the engine starts (before t.advance, t.event and the expectations)")
	}
	hh, smart, err := householdFrom(L.CheckTable(1))
	t.check("household", err)
	t.h.hh, t.h.smart = hh, smart
	return 0
}

func (t *tester) clock(L *lua.LState) int {
	at, err := time.ParseInLocation(clockLayout, L.CheckString(1), t.h.loc)
	if err != nil {
		L.RaiseError("t.clock: %q: want \"YYYY-MM-DD HH:MM\"", L.CheckString(1))
	}
	if !t.h.started() {
		t.h.clock = engine.NewVirtual(at)
		return 0
	}
	if at.Before(t.h.clock.Now()) {
		L.RaiseError("t.clock: %s is before the clock (%s): the clock never goes back", at.Format(clockLayout), t.h.clock.Now().Format(clockLayout))
	}
	t.check("clock", t.h.advance(at))
	return 0
}

func (t *tester) advance(L *lua.LState) int {
	d, err := scripting.ParseDuration(L.CheckAny(1))
	t.check("advance", err)
	if d < 0 {
		L.RaiseError("t.advance: a negative duration: the clock never goes back")
	}
	h := t.running("advance")
	t.check("advance", h.advance(h.clock.Now().Add(d)))
	return 0
}

func (t *tester) event(L *lua.LState) int {
	name := L.CheckString(1)
	data, err := plainTable(L.Get(2))
	t.check("event", err)
	h := t.running("event")
	h.eng.Publish(engine.Event{Kind: engine.KindCustom, Name: name, Data: data})
	t.check("event", h.settle())
	return 0
}

func (t *tester) restart(L *lua.LState) int {
	h := t.running("restart")
	t.check("restart", h.settle())
	t.check("restart", h.stopEngine())
	t.check("restart", h.start(t.ctx))
	return 0
}

// plainTable converts an optional Lua table to plain data.
func plainTable(v lua.LValue) (map[string]any, error) {
	if v == lua.LNil {
		return nil, nil
	}
	g, err := scripting.FromLua(v)
	if err != nil {
		return nil, err
	}
	switch m := g.(type) {
	case map[string]any:
		return m, nil
	case []any:
		if len(m) == 0 {
			return map[string]any{}, nil
		}
	}
	return nil, fmt.Errorf("want a table of fields, got %s", v.Type())
}

// plain normalises v through JSON, so that Lua values and recorded Go
// values compare alike (numbers as float64).
func plain(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// show renders a value in messages.
func show(v any) string {
	if v == nil {
		return "nil"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// luaValue is a Lua argument as plain data.
func (t *tester) luaValue(fn string, v lua.LValue) any {
	g, err := scripting.FromLua(v)
	t.check(fn, err)
	return plain(g)
}

func equalValues(a, b any) bool { return reflect.DeepEqual(plain(a), plain(b)) }

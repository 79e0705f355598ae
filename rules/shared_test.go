package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

// sharedRule tampers, on the event "tamper", with every value the states
// of a load share (the libraries, os and time, the base and rule API
// functions and metatables) and checks, on the event "check", that none
// of that reached its state.
const sharedRule = `
local trigger = event "x"
return rule "shared" { when = event "tamper", mode = "parallel", max = 4, run = function(ctx, ev)
  if ev.name == "tamper" then
    getmetatable(trigger).__tostring = function() return "tampered" end
    getmetatable(rule "r" { }).__tostring = function() return "tampered" end
    rules.each, event, alexa.volume, pcall = nil, nil, nil, nil
    os.date, time.format, string.upper = nil, nil, function() return "tampered" end
    os.foo, time.bar = 1, 2
    assert(not pcall or os.foo == 1)
    return
  end
  assert(tostring(trigger) ~= "tampered" and tostring(rule "r" { }) == "rule r", "a metatable")
  assert(type(rules.each) == "function" and type(event) == "function" and type(alexa.volume) == "function", "the rule API")
  assert(type(pcall) == "function" and ("a"):upper() == "A", "base or string")
  assert(type(os.date) == "function" and type(time.format) == "function" and os.foo == nil and time.bar == nil, "os or time")
end }
`

// loadRule loads the rules of files and returns the first rule's engine
// form (the files hold one rule).
func loadRule(t *testing.T, files map[string]string) *engine.Rule {
	t.Helper()
	set, err := rules.Load(rules.Options{Location: time.UTC}, writeRules(t, files))
	if err != nil || len(set.Errors) > 0 {
		t.Fatal(err, set.Errors)
	}
	return set.Rules[0].Engine(nil, false)
}

// newInstance builds an instance of r, closed when the test ends.
func newInstance(t *testing.T, r *engine.Rule) engine.Instance {
	t.Helper()
	in, err := r.NewInstance()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	return in
}

func TestSharedValuesStayPerState(t *testing.T) {
	rule := loadRule(t, map[string]string{"shared.lua": sharedRule})
	ins := []engine.Instance{newInstance(t, rule), newInstance(t, rule)}
	for i, name := range []string{"tamper", "check"} {
		ev := &engine.Event{Kind: engine.KindCustom, Name: name}
		if res := ins[i].Run(context.Background(), &engine.Invocation{Event: ev}); res.Err != nil {
			t.Fatalf("%s: %v", name, res.Err)
		}
	}
}

// ctx's methods are made on their first use in a state: a method the rule
// removed stays removed, and every run of the state has them after it.
func TestCtxMethodsMadeOnFirstUse(t *testing.T) {
	files := map[string]string{"m.lua": `return rule "m" { when = event "m", run = function(ctx, ev)
  if ev.data.n == 1 then
    assert(rawget(ctx, "log") == nil and rawget(ctx, "after") == nil, "made with the state")
    ctx.log.info("first")
    assert(rawget(ctx, "log") ~= nil and rawget(ctx, "cancel") ~= nil, "not kept once made")
    ctx.emit = nil
    assert(ctx.emit == nil, "a removed method came back")
  else
    assert(ctx.emit == nil and type(ctx.after) == "function", "the next run")
    ctx.log.info("second")
  end
end }`}
	in := newInstance(t, loadRule(t, files))
	for n, want := range []string{"info: first", "info: second"} {
		ev := &engine.Event{Kind: engine.KindCustom, Name: "m", Data: map[string]any{"n": n + 1}}
		res := in.Run(context.Background(), &engine.Invocation{Event: ev})
		if res.Err != nil || len(res.Log) != 1 || res.Log[0] != want {
			t.Fatalf("run %d: %v %q", n+1, res.Err, res.Log)
		}
	}
}

// What a rule assigns to ctx before any method was made stays, as when
// ctx was made with its methods (review of the first-use methods): a stub
// is not overwritten, a removed method does not come back; and a lib
// module named package is found, as before the package table was built
// by hand.
func TestCtxAssignmentsBeforeFirstUseStay(t *testing.T) {
	for name, src := range map[string]string{
		"a stub": `ctx.emit = function() end
  ctx.log.info("dry run")
  ctx.emit("x", {})`,
		"a removal": `ctx.after = nil
  ctx.log.info("removed")
  assert(ctx.after == nil, "a removed method came back")`,
		"a nil or NaN key": `ctx.log.info("nil key")
  assert(not pcall(function() ctx[nil] = 1 end), "ctx[nil] assigned")
  assert(not pcall(function() ctx[0/0] = 1 end), "ctx[0/0] assigned")`,
		"a stub set with rawset": `rawset(ctx, "emit", function() end)
  ctx.log.info("rawset")
  ctx.emit("x", {})`,
		"a lib module named package": `ctx.log.info("package")
  assert(require("package").x == 1, "require('package') gave " .. tostring(require("package")))`,
	} {
		t.Run(name, func(t *testing.T) {
			in := newInstance(t, loadRule(t, map[string]string{"lib/package.lua": `return { x = 1 }`,
				"r.lua": "return rule \"r\" { when = event \"r\", run = function(ctx, ev)\n  " + src + "\nend }"}))
			res := in.Run(context.Background(), &engine.Invocation{Event: &engine.Event{Kind: engine.KindCustom, Name: "r"}})
			if res.Err != nil || len(res.Emitted) != 0 || len(res.Log) != 1 {
				t.Fatalf("err %v, emitted %v, log %q", res.Err, res.Emitted, res.Log)
			}
		})
	}
}

package ruletest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/alexarules/alexarules/engine"
	lua "github.com/yuin/gopher-lua"
)

// expectCall passes when a rule called operation on device (with args,
// when given) and that call has not been matched by an earlier
// expect_call; it marks the call matched.
func (t *tester) expectCall(L *lua.LState) int {
	dev, op := L.CheckString(1), L.CheckString(2)
	var args any
	hasArgs := L.GetTop() >= 3
	if hasArgs {
		args = t.luaValue("expect_call", L.Get(3))
	}
	h := t.running("expect_call")
	t.check("expect_call", h.settle())
	got, ok := h.matchCall(dev, op, hasArgs, args)
	if ok {
		return 0
	}
	want := fmt.Sprintf("a call %s on %q", op, dev)
	if hasArgs {
		want += " with args " + show(args)
	}
	return t.expectFailed(want, got)
}

// matchCall marks the first unmatched call of op on dev (with args when
// hasArgs) matched; else got says what calls there were.
func (h *harness) matchCall(dev, op string, hasArgs bool, args any) (got string, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var seen []string
	for i, a := range h.actions {
		if h.used[i] || !callMatches(a, dev, op) {
			continue
		}
		if hasArgs && !argsMatch(a.Args, args) {
			seen = append(seen, describeCall(a))
			continue
		}
		h.used[i] = true
		return "", true
	}
	if len(seen) > 0 {
		return strings.Join(seen, "; "), false
	}
	if calls := h.callsOn(dev, ""); calls != "" {
		return "calls on " + dev + ": " + calls, false
	}
	return "no such call", false
}

// argsMatch compares expected args with a call's: a table is the whole
// argument list, a single value the first argument.
func argsMatch(recorded any, want any) bool {
	list, _ := plain(recorded).([]any)
	if w, ok := want.([]any); ok {
		return equalValues(list, w)
	}
	return len(list) > 0 && equalValues(list[0], want)
}

func describeCall(a engine.Action) string {
	s := a.Call
	if a.Args != nil {
		s += " " + show(a.Args)
	}
	return s
}

// callsOn lists the unmatched calls on dev, of op when it is not ""
// (h.mu held).
func (h *harness) callsOn(dev, op string) string {
	var out []string
	for i, a := range h.actions {
		if !h.used[i] && callMatches(a, dev, op) {
			out = append(out, describeCall(a))
		}
	}
	return strings.Join(out, "; ")
}

// expectNoCall passes when no call on device (of operation, when given)
// was made besides those matched by expect_call.
func (t *tester) expectNoCall(L *lua.LState) int {
	dev, op := L.CheckString(1), L.OptString(2, "")
	h := t.running("expect_no_call")
	t.check("expect_no_call", h.settle())
	h.mu.Lock()
	got := h.callsOn(dev, op)
	h.mu.Unlock()
	if got == "" {
		return 0
	}
	want := fmt.Sprintf("no call on %q", dev)
	if op != "" {
		want = fmt.Sprintf("no call %s on %q", op, dev)
	}
	return t.expectFailed(want, got)
}

// expectValue passes when the household's device has attr = value now.
func (t *tester) expectValue(L *lua.LState) int {
	name, attr := L.CheckString(1), L.CheckString(2)
	want := t.luaValue("expect_value", L.CheckAny(3))
	h := t.running("expect_value")
	t.check("expect_value", h.settle())
	d, err := h.findDevice(name)
	t.check("expect_value", err)
	got, ok := d.state[attr]
	if ok && equalValues(got, want) {
		return 0
	}
	gotS := show(got)
	if !ok {
		gotS = fmt.Sprintf("%q has no %s", d.name, attr)
	}
	return t.expectFailed(fmt.Sprintf("%s of %q = %s", attr, d.name, show(want)), gotS)
}

// expectState passes when the rule's stored state has key = value.
func (t *tester) expectState(L *lua.LState) int {
	rule, key := L.CheckString(1), L.CheckString(2)
	want := t.luaValue("expect_state", L.Get(3))
	h := t.running("expect_state")
	t.check("expect_state", h.settle())
	raw, err := h.eng.RuleState(rule)
	t.check("expect_state", err)
	var st map[string]any
	if raw != nil {
		t.check("expect_state", json.Unmarshal(raw, &st))
	}
	got := st[key]
	if equalValues(got, want) {
		return 0
	}
	return t.expectFailed(fmt.Sprintf("state %s of rule %s = %s", key, rule, show(want)), show(got))
}

// expectRun passes when the rule's latest run (or handler run) has the
// outcome (ok, failed, timeout, skipped, dry_run, ...); a third argument
// must be found in the reason (why it was skipped, or ran late) or the
// error.
func (t *tester) expectRun(L *lua.LState) int {
	rule, outcome, why := L.CheckString(1), L.CheckString(2), L.OptString(3, "")
	h := t.running("expect_run")
	t.check("expect_run", h.settle())
	tr, ok := h.lastTrace(rule)
	want := fmt.Sprintf("the latest run of %s: %s", rule, outcome)
	if why != "" {
		want += fmt.Sprintf(" (%s)", why)
	}
	if !ok {
		return t.expectFailed(want, "no run")
	}
	detail := tr.Reason
	if tr.Error != "" {
		detail = strings.TrimSpace(detail + " " + tr.Error)
	}
	if tr.Outcome == outcome && strings.Contains(detail, why) {
		return 0
	}
	got := tr.Outcome
	if detail != "" {
		got += fmt.Sprintf(" (%s)", detail)
	}
	return t.expectFailed(want, got)
}

func (h *harness) lastTrace(rule string) (engine.Trace, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.traces) - 1; i >= 0; i-- {
		if h.traces[i].Rule == rule {
			return h.traces[i], true
		}
	}
	return engine.Trace{}, false
}

package rules_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/alexarules/alexarules/engine"
)

// A shadow rule runs for real (state, reads) but records its actions as
// would-be actions; the toggle overrides the field and survives a restart.
func TestShadowRuleRecordsActionsWithoutSendingThem(t *testing.T) {
	home := newFakeHome(map[string]map[string]any{"Lamp": {"power": "OFF", "brightness": 10.0}})
	h := newHomeHarness(t, map[string]string{"r.lua": `
return rule "watch" {
  shadow = true,
  mode = "queued",
  state = { n = 0 },
  when = event "go",
  run = function(ctx, ev)
    ctx.state.n = ctx.state.n + 1
    local lamp = device("Lamp")
    ctx.log.info("brightness %d", lamp:get("brightness"))
    assert(lamp:on())
    lamp:set_brightness(40)
  end,
}`}, home)
	h.emit("go", nil)
	tr := h.waitRuns(1, ofRule("watch"))[0]
	if tr.Outcome != engine.OutcomeShadow {
		t.Fatalf("outcome %q, want shadow: %+v", tr.Outcome, tr)
	}
	want := []engine.Action{
		{Call: "get", Device: "Lamp", Args: []any{"brightness"}, Result: 10.0},
		{Call: "on", Device: "Lamp", Result: engine.ResultShadow},
		{Call: "set_brightness", Device: "Lamp", Args: []any{40}, Result: engine.ResultShadow},
	}
	if len(tr.Actions) != len(want) {
		t.Fatalf("actions %+v, want %+v", tr.Actions, want)
	}
	for i, a := range tr.Actions {
		w := want[i]
		if a.Call != w.Call || a.Device != w.Device || a.Result != w.Result || fmt.Sprint(a.Args) != fmt.Sprint(w.Args) {
			t.Errorf("action %d: %+v, want %+v", i, a, w)
		}
	}
	if got := home.sent(); len(got) != 0 {
		t.Fatalf("a shadow run sent %v", got)
	}
	if st, _ := h.store.RuleState("watch"); string(st) != `{"n":1}` {
		t.Fatalf("a shadow run keeps its state: %s", st)
	}
	if !h.engine.Rules()[0].Shadow {
		t.Fatal("/api/rules must say shadow")
	}

	if err := h.engine.SetShadow("watch", false); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.emit("go", nil)
	if tr := h.waitRuns(1, ofRule("watch"))[0]; tr.Outcome != engine.OutcomeOK {
		t.Fatalf("outcome %q after the toggle and a restart, want ok", tr.Outcome)
	}
	if h.engine.Rules()[0].Shadow {
		t.Fatal("the toggle must survive a restart")
	}
	if got := home.sent(); !slices.Equal(got, []string{"Lamp turnOn", "Lamp setBrightness 40"}) {
		t.Fatalf("sent %v", got)
	}
	if err := h.engine.SetShadow("nope", true); err == nil {
		t.Fatal("SetShadow of an unknown rule must fail")
	}
}

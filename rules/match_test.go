package rules_test

import (
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
)

// The options of the Alexa triggers filter events on their data: state
// (ringing when not given), label, list, op and item case-insensitively,
// pattern as a Lua pattern on the item's text.
func TestAlexaTriggerOptionsFilterEvents(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "match" {
  mode = "queued", max = 20,
  when = { alexa.list { list = "shopping", op = "added", pattern = "^mil" },
           alexa.reminder { label = "Pills" }, event "end" },
  run = function(ctx, ev) ctx.log.info("%s", ev.tag or ev.data.tag) end,
}`})
	echo := &engine.Device{Name: "Bedroom Echo", ID: "e1"}
	list := func(tag, name, op, text string) {
		h.publish(engine.Event{Kind: engine.KindList, Data: map[string]any{"tag": tag,
			"list": map[string]any{"name": name}, "op": op, "item": map[string]any{"text": text}}})
	}
	reminder := func(tag, state string, label any) {
		h.publish(engine.Event{Kind: engine.KindReminder, Device: echo, Data: map[string]any{"tag": tag,
			"state": state, "notification": map[string]any{"label": label}}})
	}
	list("l-ok", "Shopping", "ADDED", "milk")
	list("l-list", "To-do", "added", "milk")
	list("l-op", "Shopping", "removed", "milk")
	list("l-pattern", "Shopping", "added", "oat milk")
	reminder("r-ok", "ringing", "pills")
	reminder("r-state", "snoozed", "pills")
	reminder("r-label", "ringing", "vitamins")
	reminder("r-nolabel", "ringing", nil)
	h.emit("end", map[string]any{"tag": "end"})
	runs := h.waitRuns(3, ofRule("match"))
	var got []string
	for _, r := range runs {
		if r.Outcome != engine.OutcomeOK || len(r.Log) != 1 {
			t.Fatalf("run: %+v", r)
		}
		got = append(got, strings.TrimPrefix(r.Log[0], "info: "))
	}
	if strings.Join(got, " ") != "l-ok r-ok end" {
		t.Fatalf("runs for %q, want l-ok r-ok end", got)
	}
}

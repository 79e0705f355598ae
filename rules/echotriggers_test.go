package rules_test

import (
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

// alexa.voice, alexa.dnd and alexa.media filter events by Echo (name or
// serial, "*" for any) and on their data: match on the whole utterance
// in any case and spacing, without end punctuation; pattern on the
// lower-cased utterance; to on the new DND state; state on the player
// entering that state ("changed" and no state: every change).
func TestEchoTriggersFilterEvents(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "echo" {
  mode = "queued", max = 30,
  when = { alexa.voice { echo = "Kitchen Echo", match = "Good night" },
           alexa.voice { id = "turn", echo = "*", pattern = "^turn %a+ the" },
           alexa.dnd { echo = "G090XX", to = true },
           alexa.media { id = "playing", echo = "Kitchen Echo", state = "PLAYING" },
           alexa.media { id = "any", echo = "Bedroom Echo" },
           event "end" },
  run = function(ctx, ev) ctx.log.info("%s", ev.tag or ev.data.tag) end,
}`})
	kitchen := &engine.Device{Name: "Kitchen Echo", ID: "G6G0XX"}
	bedroom := &engine.Device{Name: "Bedroom Echo", ID: "G090XX"}
	pub := func(kind string, dev *engine.Device, data map[string]any) {
		h.publish(engine.Event{Kind: kind, Device: dev, Data: data})
	}
	voice := func(tag string, dev *engine.Device, text string) {
		pub(engine.KindVoice, dev, map[string]any{"tag": tag, "text": text, "delay": 3.5})
	}
	voice("v-ok", kitchen, "  GOOD   night!  ")
	voice("v-echo", bedroom, "good night")
	voice("v-more", kitchen, "good night everyone")
	voice("v-pattern", bedroom, "Turn off the lights")
	voice("v-pattern-no", kitchen, "please turn off the lights")
	pub(engine.KindDND, bedroom, map[string]any{"tag": "d-on", "value": true, "previous": false})
	pub(engine.KindDND, bedroom, map[string]any{"tag": "d-off", "value": false, "previous": true})
	pub(engine.KindDND, kitchen, map[string]any{"tag": "d-other", "value": true})
	pub(engine.KindMedia, kitchen, map[string]any{"tag": "m-play", "state": "PLAYING", "previous": "PAUSED", "title": "A"})
	pub(engine.KindMedia, kitchen, map[string]any{"tag": "m-track", "state": "PLAYING", "previous": "PLAYING", "title": "B"})
	pub(engine.KindMedia, kitchen, map[string]any{"tag": "m-pause", "state": "PAUSED", "previous": "PLAYING"})
	pub(engine.KindMedia, bedroom, map[string]any{"tag": "m-any", "state": "IDLE", "previous": "PAUSED"})
	h.emit("end", map[string]any{"tag": "end"})
	runs := h.waitRuns(6, ofRule("echo"))
	var got []string
	for _, r := range runs {
		if r.Outcome != engine.OutcomeOK || len(r.Log) != 1 {
			t.Fatalf("run: %+v", r)
		}
		got = append(got, strings.TrimPrefix(r.Log[0], "info: "))
	}
	if g, w := strings.Join(got, " "), "v-ok v-pattern d-on m-play m-any end"; g != w {
		t.Fatalf("runs for %q, want %s", g, w)
	}
}

func TestEchoTriggerOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct{ trigger, want string }{
		{`alexa.voice { match = "a", pattern = "^a" }`, `options "match" and "pattern" exclude each other`},
		{`alexa.voice { pattern = "[a" }`, `option "pattern": bad Lua pattern`},
		{`alexa.voice { match = " ?! " }`, `option "match" is empty`},
		{`alexa.voice { mach = "a" }`, `unknown option "mach" (did you mean "match"?)`},
		{`alexa.voice { device = "Kitchen Echo" }`, `unknown option "device" (known: echo, id, match, pattern)`},
		{`alexa.dnd { to = "on" }`, `option "to": true or false expected, got string`},
		{`alexa.media { state = "playing" }`, `option "state": unknown value "playing" (did you mean "PLAYING"?)`},
		{`alexa.media { state = "stopped" }`, `(known: IDLE, PAUSED, PLAYING, changed)`},
		{`alexa.media { echo = 5 }`, `option "echo": string expected, got number`},
	} {
		set := load(t, map[string]string{"r.lua": "return rule \"r\" { run = function() end,\n when = " + tc.trigger + " }"})
		if len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), tc.want) || !strings.Contains(set.Errors[0].Error(), "r.lua:2:") {
			t.Errorf("%s: want an error with %q at line 2, got %v", tc.trigger, tc.want, set.Errors)
		}
	}
}

func TestNormalizeUtterance(t *testing.T) {
	for in, want := range map[string]string{"Good  Night!": "good night", " turn\toff the light. ": "turn off the light",
		"¿Qué tal?": "qué tal", "what's up": "what's up", "...": ""} {
		if got := rules.NormalizeUtterance(in); got != want {
			t.Errorf("NormalizeUtterance(%q) = %q, want %q", in, got, want)
		}
	}
}

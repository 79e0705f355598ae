package scripting_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

func newFakeHousehold() *fakeHousehold {
	return &fakeHousehold{volumes: map[string]int{}, dnd: map[string]bool{}, fail: map[string]error{}}
}

// Each voice action reaches Perform once with the Echo (or every Echo of
// alexa.echoes at once) and the action, and the trace shows it.
func TestEchoVoiceActionsPerformOnce(t *testing.T) {
	hh := newFakeHousehold()
	run := &fakeRun{}
	L := alexaState(t, run, hh)
	_, err := devDo(t, L, true, `
local k = alexa.echo("Bedroom Echo")
assert(k:speak("Dinner   is\nready"))
assert(k:announce("Leaving", { title = "Home", volume = 40 }))
assert(k:ssml("<speak>Hi <break time='1s'/> there</speak>"))
assert(k:sound("amzn_sfx_doorbell_chime_01"))
assert(k:command("Turn on the hall light"))
assert(k:volume(30.4))
assert(k:stop())
assert(alexa.echoes{ "Bedroom Echo", alexa.echo("Kitchen Echo") }:announce("Leaving in 5"))
assert(alexa.echo({ id = "g090xx", name = "ignored" }):speak("by id"))`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"perform G090XX {Kind:speak Text:Dinner is ready Title: Volume:0}",
		"perform G090XX {Kind:announce Text:Leaving Title:Home Volume:40}",
		"perform G090XX {Kind:ssml Text:<speak>Hi <break time='1s'/> there</speak> Title: Volume:0}",
		"perform G090XX {Kind:sound Text:amzn_sfx_doorbell_chime_01 Title: Volume:0}",
		"perform G090XX {Kind:command Text:Turn on the hall light Title: Volume:0}",
		"perform G090XX {Kind:volume Text: Title: Volume:30}",
		"perform G090XX {Kind:stop Text: Title: Volume:0}",
		"perform G090XX,G6G0XX {Kind:announce Text:Leaving in 5 Title: Volume:0}",
		"perform G090XX {Kind:speak Text:by id Title: Volume:0}",
	}
	if got := strings.Join(hh.acts, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("performed:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	acts := run.recorded()
	if len(acts) != len(want) {
		t.Fatalf("%d actions recorded, want %d: %+v", len(acts), len(want), acts)
	}
	if b, _ := json.Marshal(acts[1]); string(b) != `{"call":"announce","device":"Bedroom Echo","args":["Leaving",{"title":"Home","volume":40}],"result":true}` {
		t.Errorf("announce trace: %s", b)
	}
	if b, _ := json.Marshal(acts[6]); string(b) != `{"call":"stop","device":"Bedroom Echo","result":true}` {
		t.Errorf("stop trace: %s", b)
	}
	if b, _ := json.Marshal(acts[7]); string(b) != `{"call":"announce","device":"Bedroom Echo, Kitchen Echo","args":["Leaving in 5"],"result":true}` {
		t.Errorf("echoes trace: %s", b)
	}
}

func TestEchoDNDMediaRoutinesAndLastCalled(t *testing.T) {
	hh := newFakeHousehold()
	hh.dnd["G090XX"] = true
	hh.player = &scripting.Player{State: "PLAYING", Title: "Song", Artist: "Band", Provider: "Spotify", Position: 12, Length: 200, Volume: 35}
	hh.last = &scripting.Utterance{Echo: scripting.Echo{Serial: "G090XX", Name: "Bedroom Echo"}, Text: "good night", Time: time.Unix(1700, 0)}
	run := &fakeRun{}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `
local k = alexa.echo("Bedroom Echo")
local before, unknown = k:dnd(), alexa.echo("Kitchen Echo"):dnd()
assert(k:dnd(false))
assert(k:dnd{ duration = "1h" })
local p = k:player()
assert(k:pause()); assert(k:play()); assert(k:next()); assert(k:previous())
assert(k:shuffle(true)); assert(k:loop(false))
local rs = alexa.routines()
assert(alexa.routine("GOOD NIGHT"):run())
assert(alexa.routine("sleep tight"):run{ on = "Bedroom Echo" })
local lc = alexa.last_called()
return before, unknown, p.state, p.title, p.position, p.album, #rs, rs[1].name, rs[1].utterances[1], lc.device.name, lc.text, lc.time`)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(out))
	for i, v := range out {
		got[i] = v.String()
	}
	if g, w := strings.Join(got, "|"), "true|nil|PLAYING|Song|12|nil|1|Good night|sleep tight|Bedroom Echo|good night|1700"; g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
	want := []string{"dnd G090XX false 0s", "dnd G090XX true 1h0m0s",
		"media G090XX pause false", "media G090XX play false", "media G090XX next false", "media G090XX previous false",
		"media G090XX shuffle true", "media G090XX loop false", "routine GOOD NIGHT -", "routine sleep tight G090XX"}
	if g := strings.Join(hh.acts, "\n"); g != strings.Join(want, "\n") {
		t.Fatalf("calls:\n%s\nwant:\n%s", g, strings.Join(want, "\n"))
	}
	var calls []string
	for _, a := range run.recorded() {
		calls = append(calls, a.Call+" "+a.Device)
	}
	// The reads that make a request (player, routines) are in the trace
	// too; the cached ones (dnd(), last_called) are not.
	if g, w := strings.Join(calls, ","), "dnd Bedroom Echo,dnd Bedroom Echo,player Bedroom Echo,pause Bedroom Echo,play Bedroom Echo,next Bedroom Echo,"+
		"previous Bedroom Echo,shuffle Bedroom Echo,loop Bedroom Echo,routines ,run GOOD NIGHT,run sleep tight"; g != w {
		t.Fatalf("trace:\n%s\nwant\n%s", g, w)
	}
}

// A player that plays nothing is nil; remote failures are nil, err and
// recorded; an unknown routine is the rule's mistake.
func TestEchoFailuresAndIdlePlayer(t *testing.T) {
	hh := newFakeHousehold()
	hh.fail["perform"] = &remoteFailure{typ: "THROTTLED", status: 429, message: "Rate exceeded"}
	hh.fail["routines"] = &remoteFailure{typ: "ERROR", status: 500, message: "down"}
	run := &fakeRun{}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `
local k = alexa.echo("Bedroom Echo")
local ok, err = k:speak("hi")
local rs, rerr = alexa.routines()
return ok, tostring(err), k:player(), rs, tostring(rerr)`)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(out))
	for i, v := range out {
		got[i] = v.String()
	}
	if g, w := strings.Join(got, "|"), "nil|THROTTLED (HTTP 429): Rate exceeded|nil|nil|ERROR (HTTP 500): down"; g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
	acts := run.recorded()
	if len(acts) != 3 || acts[2].Result != "idle" {
		t.Fatalf("trace: %+v", acts)
	}
	if _, err := devDo(t, L, true, `alexa.routine("Good morning"):run()`); err == nil || !strings.Contains(err.Error(), `:1: unknown device "Good morning"`) {
		t.Fatalf("unknown routine: %v", err)
	}
}

func TestEchoBadArgumentsRaiseBeforeAnyRequest(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`alexa.echo("Bedroom Echo"):speak("  ")`, `bad argument #1 to speak (text expected, got "  ")`},
		{`alexa.echo("Bedroom Echo"):speak(42)`, "bad argument #1 to speak (text expected, got 42)"},
		{`alexa.echo("Bedroom Echo"):speak("a", "b")`, "bad argument #2 to speak (no value expected"},
		{`alexa.echo("Bedroom Echo"):announce("a", { titel = "x" })`, `bad argument #2 to announce (unknown field "titel" (title, volume))`},
		{`alexa.echo("Bedroom Echo"):announce("a", { volume = 0 })`, "bad argument #2 to announce (volume 1..100 expected, got 0)"},
		{`alexa.echo("Bedroom Echo"):announce("a", "Home")`, "bad argument #2 to announce (options table"},
		{`alexa.echo("Bedroom Echo"):ssml("Hi")`, "bad argument #1 to ssml (SSML starting with <speak> expected"},
		{`alexa.echo("Bedroom Echo"):sound("door bell")`, "bad argument #1 to sound (a sound id"},
		{`alexa.echo("Bedroom Echo"):command("")`, "bad argument #1 to command"},
		{`alexa.echo("Bedroom Echo"):volume(101)`, "bad argument #1 to volume (0..100 expected, got 101)"},
		{`alexa.echo("Bedroom Echo"):stop(true)`, "bad argument #1 to stop (no value expected, got boolean)"},
		{`alexa.echo("Bedroom Echo"):dnd("on")`, `bad argument #1 to dnd (true, false or { duration = "1h" } expected, got "on")`},
		{`alexa.echo("Bedroom Echo"):dnd{ duration = "0s" }`, "bad argument #1 to dnd (duration: at least 1m expected, got 0s)"},
		{`alexa.echo("Bedroom Echo"):dnd{ duration = "13h" }`, "bad argument #1 to dnd (duration: at most 12h expected, got 13h0m0s)"},
		{`alexa.echo("Bedroom Echo"):dnd{ hours = 1 }`, `bad argument #1 to dnd (unknown field "hours" (duration))`},
		{`alexa.echo("Bedroom Echo"):shuffle()`, "bad argument #1 to shuffle (true or false expected, got nil)"},
		{`alexa.echo("Bedroom Echo"):pause(1)`, "bad argument #1 to pause (no value expected, got 1)"},
		{`alexa.echo("Bedroom Echo").speak("x")`, "speak must be called as a method, echo:speak(...)"},
		{`alexa.echo("Bedroom Echo"):sing("x")`, "echo has no field sing (it has name, serial, alarms, announce, command, dnd,"},
		{`alexa.echo("Bedrom Echo"):speak("x")`, `unknown device "Bedrom Echo"`},
		{`alexa.echo({})`, "bad argument #1 to alexa.echo (Echo name or serial number expected, got table)"},
		{`alexa.echoes{}`, "bad argument #1 to alexa.echoes (a list of Echo names expected, got table)"},
		{`alexa.echoes("Bedroom Echo")`, `bad argument #1 to alexa.echoes (a list of Echo names expected, got "Bedroom Echo")`},
		{`alexa.echoes{ "Bedroom Echo", x = 1 }`, `got the field "x"`},
		{`alexa.echoes{ "Bedroom Echo", "Nope" }:announce("x")`, `unknown device "Nope"`},
		{`alexa.echoes{ "Bedroom Echo" }:pause()`, "echoes has no field pause (it has announce, command, sound, speak, ssml, stop, volume)"},
		{`alexa.routine("")`, "bad argument #1 to alexa.routine (routine name expected"},
		{`alexa.routine("Good night"):run{ on = "Nope" }`, `unknown device "Nope"`},
		{`alexa.routine("Good night"):run{ echo = "Bedroom Echo" }`, `bad argument #1 to run (unknown field "echo" (on))`},
		{`alexa.routine("Good night"):run("Bedroom Echo")`, `bad argument #1 to run (options table { on = echo } expected`},
		{`alexa.routines(1)`, "bad argument #1 to alexa.routines (no value expected, got 1)"},
	} {
		hh := newFakeHousehold()
		L := alexaState(t, &fakeRun{}, hh)
		_, err := devDo(t, L, true, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":1:") {
			t.Errorf("%s: want an error with %q at line 1, got %v", tc.src, tc.want, err)
		}
		if len(hh.acts) != 0 {
			t.Errorf("%s: a request was made: %v", tc.src, hh.acts)
		}
	}
}

// A dry run (and a shadow rule) records each action with its result and
// sends nothing; it still catches an unknown Echo, and reads still read.
func TestEchoDryRunRecordsWithoutSending(t *testing.T) {
	hh := newFakeHousehold()
	run := &fakeRun{dry: true}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `
local k = alexa.echo("Bedroom Echo")
return k:speak("hi"), alexa.echoes{ "Bedroom Echo", "Kitchen Echo" }:announce("x"), k:dnd{ duration = "1h" },
  k:pause(), alexa.routine("Whatever"):run(), k:player()`)
	if err != nil {
		t.Fatal(err)
	}
	if len(hh.acts) != 0 {
		t.Fatalf("a dry run sent: %v", hh.acts)
	}
	if len(out) != 6 || out[0].String() != "true" || out[4].String() != "true" || out[5].String() != "nil" {
		t.Fatalf("results: %v", out)
	}
	acts := run.recorded()
	for _, a := range acts[:5] {
		if a.Result != engine.ResultDryRun {
			t.Errorf("%s: result %v, want %s", a.Call, a.Result, engine.ResultDryRun)
		}
	}
	if acts[5].Call != "player" || acts[5].Result != "idle" {
		t.Errorf("the read: %+v", acts[5])
	}
	if _, err := devDo(t, L, true, `alexa.echo("Nope"):speak("x")`); err == nil || !strings.Contains(err.Error(), `unknown device "Nope"`) {
		t.Fatalf("unknown Echo in a dry run: %v", err)
	}
	L = alexaState(t, nil, hh)
	if _, err := devDo(t, L, false, `alexa.echo("Bedroom Echo"):speak("y")`); err == nil || !strings.Contains(err.Error(), "inside a rule run") {
		t.Fatalf("at load time: %v", err)
	}
}

// answer404 is Amazon answering 404 to a call, as the host describes it:
// a failure with its HTTP status around an error answer whose NotFound
// is true.
type answer404 struct{}

func (answer404) Error() string  { return "alexa web: POST /api/np/command: 404 Not Found" }
func (answer404) NotFound() bool { return true }
func (answer404) Failure() (string, int, string) {
	return "HTTP_404", 404, "Not Found"
}

// An error answer of Amazon's is the call's nil, err even when it is a
// 404: only an unknown Echo or routine (no answer of Amazon's) is the
// rule's mistake.
func TestEchoNotFoundAnswerIsNilErr(t *testing.T) {
	hh := newFakeHousehold()
	hh.fail["media"] = answer404{}
	hh.fail["perform"] = answer404{}
	run := &fakeRun{}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `
local k = alexa.echo("Bedroom Echo")
local ok, err = k:pause()
local ok2, err2 = k:speak("hi")
return ok, err.type, err.status, ok2, err2.type`)
	if err != nil {
		t.Fatalf("a 404 answer raised: %v", err)
	}
	got := make([]string, len(out))
	for i, v := range out {
		got[i] = v.String()
	}
	if g, w := strings.Join(got, "|"), "nil|HTTP_404|404|nil|HTTP_404"; g != w {
		t.Fatalf("got  %s\nwant %s", g, w)
	}
	if acts := run.recorded(); len(acts) != 2 {
		t.Fatalf("trace: %+v", acts)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// These tests drive `alexarules run --cloud` against the simulator with
// rules that make Echos speak, announce, run routines, set Do Not
// Disturb and pause music, and compare the requests the simulator got
// with the sequences of research §2 (echo-voice-media-api.md).

const (
	bedroomSerial = "G090LF1182340B7K"
	kitchenSerial = "G6G0XW0412650C3M"
	livingSerial  = "G2A0V7048274078P"
	// simCustomer is the simulator's signed-in customer (/api/users/me id).
	simCustomer = "amzn1.account.SIMA1SIMCUSTOMER1"
)

const echoRules = `
return {
  rule "speak" { when = event "speak",
    run = function() assert(alexa.echo("Kitchen Echo"):speak("The washing machine is done")) end },
  rule "announce" { when = event "announce",
    run = function() assert(alexa.echoes{ "Kitchen Echo", "Bedroom Echo" }:announce("Dinner is ready")) end },
  rule "routine" { when = event "routine",
    run = function() assert(alexa.routine("GOOD NIGHT"):run{ on = "Bedroom Echo" }) end },
  rule "dnd" { when = event "dnd",
    run = function() assert(alexa.echo("Bedroom Echo"):dnd{ duration = "1h" }) end },
  rule "doorbell" { when = event "doorbell",
    run = function(ctx)
      local echo = alexa.echo("Living Room Echo")
      local p = echo:player()
      if p and p.state == "PLAYING" then
        assert(echo:pause())
        ctx.log.info("paused %s", p.title)
      end
    end },
  rule "throttled" { when = event "throttled",
    run = function(ctx)
      local ok, err = alexa.echo("Kitchen Echo"):speak("hello")
      ctx.log.info("ok=%s type=%s status=%s", tostring(ok), err.type, tostring(err.status))
    end },
  rule "typo" { when = event "typo",
    run = function() alexa.routine("Good nite"):run() end },
  rule "failing-web" { when = event "failing-web",
    run = function(ctx)
      local ok, err = alexa.remind{ device = "Kitchen Echo", text = "milk", ["in"] = "1h" }
      ctx.log.info("remind: %s %s %s", tostring(ok), err.type, tostring(err.status))
      ok, err = alexa.list("Shopping"):add("milk")
      ctx.log.info("add: %s %s %s", tostring(ok), err.type, tostring(err.status))
    end },
}`

// echoHousehold is the demo household with a routine and music playing
// in the living room.
func echoHousehold() sim.Household {
	h := sim.DemoHousehold()
	h.Routines = []sim.Routine{{Name: "Good night", Utterances: []string{"sleep tight"}}}
	h.Players = []sim.Player{{Echo: "Living Room Echo", State: "PLAYING", Title: "Blue in Green", Artist: "Miles Davis", Provider: "Amazon Music"}}
	return h
}

// startEchoRun runs echoRules against a simulator of echoHousehold.
func startEchoRun(t *testing.T, extra ...string) (*sim.Server, string, *daemon) {
	t.Helper()
	s, url := startSimOf(t, echoHousehold(), sim.Options{})
	dir := t.TempDir()
	write(t, dir, "r.lua", echoRules)
	return s, url, startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), append([]string{"--cloud", url}, extra...)...)
}

// previews are the behaviors/preview requests since from that were not
// throttled (the simulator takes 3 a second, as Amazon does; the client
// retries): the outer body and its sequenceJson, each as normalised JSON.
func previews(t *testing.T, s *sim.Server, from int) (outer, seq []string) {
	t.Helper()
	for _, r := range requestsSince(s, from, func(r sim.Request) bool {
		return r.Path == "/api/behaviors/preview" && r.Status != http.StatusTooManyRequests
	}) {
		var body map[string]any
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("preview body %s: %v", r.Body, err)
		}
		sj, ok := body["sequenceJson"].(string)
		if !ok {
			t.Fatalf("sequenceJson is not a string: %s", r.Body)
		}
		body["sequenceJson"] = "…"
		b, _ := json.Marshal(body)
		outer = append(outer, string(b))
		seq = append(seq, normJSON(t, json.RawMessage(sj)))
		if r.Status != http.StatusOK {
			t.Errorf("preview answered %d: %s", r.Status, r.Body)
		}
	}
	return outer, seq
}

// fire posts the event and waits for the rule's run, which must be ok.
func fire(t *testing.T, d *daemon, event, rule string) map[string]any {
	t.Helper()
	n := len(d.runs(rule))
	d.post("/api/events", `{"name":"`+event+`"}`)
	d.waitFor(func() bool { return len(d.runs(rule)) > n }, "the "+rule+" run")
	run := d.runs(rule)[0]
	if run["outcome"] != "ok" {
		t.Fatalf("%s: %v", rule, run)
	}
	return run
}

func serial(s, typ string) string {
	return `"deviceSerialNumber":"` + s + `","deviceType":"` + typ + `"`
}

func TestRulesMakeEchosSpeakAnnounceRunRoutinesAndSetDND(t *testing.T) {
	s, _, d := startEchoRun(t)
	const op = `"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode"`
	serialNode := func(nodes ...string) string {
		return `{"@type":"com.amazon.alexa.behaviors.model.Sequence","startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","name":null,"nodesToExecute":[` +
			strings.Join(nodes, ",") + `]}}`
	}
	for _, tc := range []struct {
		event, outer, seq string
	}{
		{"speak", `{"behaviorId":"PREVIEW","sequenceJson":"…","status":"ENABLED"}`,
			serialNode(`{` + op + `,"type":"Alexa.Speak","skillId":"amzn1.ask.1p.saysomething","operationPayload":{` +
				serial(kitchenSerial, "A4ZP7ZC4PI6TO") + `,"locale":"en-US","customerId":"` + simCustomer + `","textToSpeak":"The washing machine is done"}}`)},
		// Two Echos, one request, one announcement node listing both.
		{"announce", `{"behaviorId":"PREVIEW","sequenceJson":"…","status":"ENABLED"}`,
			serialNode(`{` + op + `,"type":"AlexaAnnouncement","skillId":"amzn1.ask.1p.routines.messaging","operationPayload":{` +
				`"customerId":"` + simCustomer + `","expireAfter":"PT5S","content":[{"locale":"en-US","display":{"title":"alexarules","body":"Dinner is ready"},` +
				`"speak":{"type":"text","value":"Dinner is ready"}}],"target":{"customerId":"` + simCustomer + `","devices":[` +
				`{"deviceSerialNumber":"` + kitchenSerial + `","deviceTypeId":"A4ZP7ZC4PI6TO"},{"deviceSerialNumber":"` + bedroomSerial + `","deviceTypeId":"A32DOYMUN6DTXA"}]}}}`)},
		{"dnd", `{"behaviorId":"PREVIEW","sequenceJson":"…","status":"ENABLED"}`,
			serialNode(`{` + op + `,"type":"Alexa.DeviceControls.DoNotDisturb","skillId":"amzn1.ask.1p.alexadevicecontrols","operationPayload":{` +
				`"customerId":"` + simCustomer + `","action":"Enable","duration":"DURATION#PT1H0M0S","isAssociatedDevice":false,` +
				`"devices":[{"deviceSerialNumber":"` + bedroomSerial + `","deviceTypeId":"A32DOYMUN6DTXA"}]}}`)},
	} {
		from := len(s.Requests())
		fire(t, d, tc.event, tc.event)
		outer, seq := previews(t, s, from)
		if len(outer) != 1 {
			t.Fatalf("%s: %d preview requests, want one: %v", tc.event, len(outer), seq)
		}
		if outer[0] != normJSON(t, json.RawMessage(tc.outer)) {
			t.Errorf("%s: body\n%s\nwant\n%s", tc.event, outer[0], tc.outer)
		}
		if want := normJSON(t, json.RawMessage(tc.seq)); seq[0] != want {
			t.Errorf("%s: sequenceJson\n%s\nwant\n%s", tc.event, seq[0], want)
		}
	}

	// The routine by name (any case): behaviorId is its automationId, the
	// sequence its own with the placeholders replaced.
	from := len(s.Requests())
	fire(t, d, "routine", "routine")
	outer, seq := previews(t, s, from)
	if len(outer) != 1 || !strings.Contains(outer[0], `"behaviorId":"amzn1.alexa.automation.`) ||
		!strings.Contains(seq[0], `"sequenceId":"amzn1.alexa.sequence.`) || !strings.Contains(seq[0], `"deviceSerialNumber":"`+bedroomSerial+`"`) ||
		!strings.Contains(seq[0], `"textToSpeak":"Running Good night"`) || strings.Contains(seq[0], "ALEXA_") {
		t.Fatalf("routine run: %v %v", outer, seq)
	}

	h := s.Household()
	var spoken []string
	for _, e := range h.Spoken {
		spoken = append(spoken, fmt.Sprintf("%s %s %q %s", e.Device, e.Kind, e.Text, e.Routine))
	}
	want := []string{`Kitchen Echo speak "The washing machine is done" `, `Kitchen Echo announce "Dinner is ready" `,
		`Bedroom Echo announce "Dinner is ready" `, `Bedroom Echo routine "" Good night`, `Bedroom Echo speak "Running Good night" Good night`}
	if strings.Join(spoken, "\n") != strings.Join(want, "\n") {
		t.Errorf("the simulator's spoken log:\n%s\nwant\n%s", strings.Join(spoken, "\n"), strings.Join(want, "\n"))
	}
	if len(h.DND) != 1 || h.DND[0].Serial != bedroomSerial || !h.DND[0].Enabled || h.DND[0].Duration != "PT1H0M0S" {
		t.Errorf("the simulator's DND log: %+v", h.DND)
	}

	// A misspelt routine fails the run at its line, and sends nothing.
	from = len(s.Requests())
	d.post("/api/events", `{"name":"typo"}`)
	d.waitFor(func() bool { return len(d.runs("typo")) == 1 }, "the typo run")
	if run := d.runs("typo")[0]; run["outcome"] != "failed" || !strings.Contains(fmt.Sprint(run["error"]), `r.lua:26: unknown routine "Good nite" (known: Good night)`) ||
		!strings.Contains(fmt.Sprint(run["error"]), "Good nite") {
		t.Fatalf("unknown routine: %v", run)
	}
	if outer, _ := previews(t, s, from); len(outer) != 0 {
		t.Fatalf("an unknown routine sent %v", outer)
	}
}

// The doorbell pauses the music that plays in the living room: one
// np/command, and the simulator's player is paused.
func TestTheDoorbellPausesTheMusic(t *testing.T) {
	s, _, d := startEchoRun(t)
	run := fire(t, d, "doorbell", "doorbell")
	if log := fmt.Sprint(run["log"]); log != "[info: paused Blue in Green]" {
		t.Fatalf("doorbell: %s", log)
	}
	cmds := requestsSince(s, 0, func(r sim.Request) bool { return r.Path == "/api/np/command" })
	if len(cmds) != 1 || normJSON(t, cmds[0].Body) != `{"type":"PauseCommand"}` ||
		!strings.Contains(cmds[0].Query, "deviceSerialNumber="+livingSerial) || cmds[0].Status != http.StatusOK {
		t.Fatalf("np/command requests: %+v", cmds)
	}
	p := s.Household().Players[0]
	if p.State != "PAUSED" || strings.Join(p.Commands, ",") != "PauseCommand" {
		t.Fatalf("the simulator's player: %+v", p)
	}
	// Paused already: the next ring reads the player and sends nothing.
	fire(t, d, "doorbell", "doorbell")
	if n := len(requestsSince(s, 0, func(r sim.Request) bool { return r.Path == "/api/np/command" })); n != 1 {
		t.Fatalf("%d np/command requests, want 1", n)
	}
}

// Amazon's throttling, once the client's attempts are spent, is nil, err
// with type THROTTLED for the rule, and in the run's trace.
func TestAThrottledEchoActionIsNilErr(t *testing.T) {
	_, url, d := startEchoRun(t)
	simPost(t, url, "/_sim/faults", `[{"path_prefix":"/api/behaviors/preview","status":429,"times":4,"body":{"message":"Rate exceeded"}}]`)
	run := fire(t, d, "throttled", "throttled")
	if log := fmt.Sprint(run["log"]); log != "[info: ok=nil type=THROTTLED status=429]" {
		t.Fatalf("throttled: %s", log)
	}
	if acts := fmt.Sprint(run["actions"]); !strings.Contains(acts, "type:THROTTLED") {
		t.Fatalf("the trace: %s", acts)
	}
}

// Reminders and lists fail like every call: the answer's type (or
// HTTP_<status> when it has none) and its status, not a bare ERROR.
func TestAFailedReminderOrListCallNamesItsStatus(t *testing.T) {
	_, url, d := startEchoRun(t)
	simPost(t, url, "/_sim/faults", `[{"path_prefix":"/api/notifications/createReminder","status":400,"times":1,"body":{"message":"bad reminder"}},`+
		`{"path_prefix":"/alexashoppinglists/api/v2/lists/amzn1.alexa.list.sim-shopping/items","status":403,"times":100}]`)
	run := fire(t, d, "failing-web", "failing-web")
	if log := fmt.Sprint(run["log"]); log != "[info: remind: nil HTTP_400 400 info: add: nil FORBIDDEN 403]" {
		t.Fatalf("failing-web: %s", log)
	}
}

// --dry-run records the Echo actions and sends none.
func TestDryRunSendsNoEchoActions(t *testing.T) {
	s, _, d := startEchoRun(t, "--dry-run")
	for _, ev := range []string{"speak", "announce", "dnd", "routine"} {
		d.post("/api/events", `{"name":"`+ev+`"}`)
		d.waitFor(func() bool { return len(d.runs(ev)) == 1 }, "the "+ev+" run")
		if run := d.runs(ev)[0]; run["outcome"] != "dry_run" || !strings.Contains(fmt.Sprint(run["actions"]), "result:dry_run") {
			t.Fatalf("%s: %v", ev, run)
		}
	}
	if outer, _ := previews(t, s, 0); len(outer) != 0 {
		t.Fatalf("a dry run sent %v", outer)
	}
}

const voiceRules = `
return {
  rule "heard" { when = alexa.voice { echo = "*" }, mode = "queued",
    run = function(ctx, ev) ctx.log.info("heard %q on %s", ev.text, ev.device.name) end },
  rule "movie" { when = alexa.voice { echo = "Kitchen Echo", match = "Movie time!" },
    run = function(ctx, ev) assert(alexa.echo(ev.device):speak("Enjoy the film")) end },
  rule "who" { when = event "who",
    run = function(ctx)
      local lc = alexa.last_called()
      ctx.log.info("last: %s on %s", lc.text, lc.device.name)
    end },
}`

// heardLogs are the "heard" rule's log lines, oldest first.
func heardLogs(d *daemon) []string {
	var out []string
	runs := d.runs("heard")
	for i := len(runs) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprint(runs[i]["log"]))
	}
	return out
}

// Utterances from POST /_sim/voice fire their rules exactly once each,
// also the one said while the engine was down, and across the restart
// none fires again.
func TestVoiceCommandsFireOnceEachAcrossARestart(t *testing.T) {
	s, url := startSimOf(t, echoHousehold(), sim.Options{})
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "d.db")
	write(t, dir, "r.lua", voiceRules)
	d := startRun(t, dir, data, "--cloud", url)
	waitPushClient(d, url)
	simPost(t, url, "/_sim/voice", `{"device":"Kitchen Echo","text":"movie time"}`)
	d.waitFor(func() bool { return len(d.runs("movie")) == 1 && len(d.runs("heard")) == 1 }, "the movie time runs")
	if log := strings.Join(heardLogs(d), " "); log != `[info: heard "movie time" on Kitchen Echo]` {
		t.Fatalf("heard: %s", log)
	}
	fire(t, d, "who", "who")
	if log := fmt.Sprint(d.runs("who")[0]["log"]); log != "[info: last: movie time on Kitchen Echo]" {
		t.Fatalf("last_called: %s", log)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.wait()

	// Served by the history at once: the restarted engine's first poll
	// finds it (one that became visible later waits for the slow timer).
	simPost(t, url, "/_sim/voice", `{"device":"Bedroom Echo","text":"good night","delay_ms":0}`)
	d = startRun(t, dir, data, "--cloud", url)
	if !eventually(20*time.Second, func() bool { return len(d.runs("heard")) == 2 }) {
		for _, r := range s.Requests() {
			if strings.Contains(r.Path, "alexa-privacy") {
				t.Logf("%s %s %s -> %d", r.Method, r.Path, r.Body, r.Status)
			}
		}
		t.Logf("%s", simCall(t, url, "GET", "/_sim/voice", ""))
		t.Fatalf("the utterance said while down was not heard:\n%s", d.log())
	}
	waitPushClient(d, url)
	simPost(t, url, "/_sim/voice", `{"device":"Kitchen Echo","text":"movie time"}`)
	d.waitFor(func() bool { return len(d.runs("heard")) == 3 && len(d.runs("movie")) == 2 }, "the second movie time")
	fire(t, d, "who", "who") // a last run, after the restart's catch-up and the push
	want := []string{`[info: heard "movie time" on Kitchen Echo]`, `[info: heard "good night" on Bedroom Echo]`,
		`[info: heard "movie time" on Kitchen Echo]`}
	if got := heardLogs(d); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("heard:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var late []map[string]any
	for _, ev := range d.events("alexa.voice") {
		if data, _ := ev["data"].(map[string]any); data["text"] == "good night" {
			late = append(late, data)
		}
	}
	if len(late) != 1 {
		t.Fatalf("the utterance said while down: %v", late)
	}
	var speaks int
	for _, e := range s.Household().Spoken {
		if e.Kind == "speak" && e.Text == "Enjoy the film" && e.Serial == kitchenSerial {
			speaks++
		}
	}
	if speaks != 2 {
		t.Fatalf("the Kitchen Echo said \"Enjoy the film\" %d times, want 2", speaks)
	}
}

// A shadow rule records its Echo actions as would-be actions and sends
// none; its reads (the player) still read.
func TestShadowEchoRuleSendsNothing(t *testing.T) {
	s, url := startSimOf(t, echoHousehold(), sim.Options{})
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "quiet" { shadow = true, when = event "go",
  run = function(ctx)
    local living = alexa.echo("Living Room Echo")
    local p = living:player()
    assert(living:pause())
    assert(alexa.echoes{ "Kitchen Echo", "Bedroom Echo" }:announce("x"))
    assert(alexa.routine("Good night"):run())
    ctx.log.info("%s", p.state)
  end }`)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), "--cloud", url)
	d.post("/api/events", `{"name":"go"}`)
	d.waitFor(func() bool { return len(d.runs("quiet")) == 1 }, "the shadow run")
	run := d.runs("quiet")[0]
	if acts := fmt.Sprint(run["actions"]); run["outcome"] != "shadow" || fmt.Sprint(run["log"]) != "[info: PLAYING]" ||
		strings.Count(acts, "result:shadow") != 3 {
		t.Fatalf("shadow run: %v", run)
	}
	sent := requestsSince(s, 0, func(r sim.Request) bool {
		return r.Path == "/api/behaviors/preview" || r.Path == "/api/np/command"
	})
	if len(sent) != 0 {
		t.Fatalf("a shadow run sent %+v", sent)
	}
}

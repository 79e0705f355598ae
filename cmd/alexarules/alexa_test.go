package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

// These tests drive `alexarules run --cloud` against the simulator through
// the admin API only, as a user would.

const (
	bedroomLamp = "amzn1.alexa.endpoint.3f9d2c1e-8a4b-4c7d-9e21-5b6a7c8d0e11"
	speaker     = "amzn1.alexa.endpoint.5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d66"
)

const deviceRules = `
return {
  rule "all-ops" {
    when = event "all",
    run = function(ctx, ev)
      local lamp = device("Bedroom Lamp")
      assert(lamp:on())
      assert(lamp:set_brightness(40))
      assert(lamp:adjust_brightness(-10))
      assert(lamp:set_color("#ff0000"))
      assert(lamp:set_color({ hue = 120, saturation = 0.5, brightness = 1 }))
      assert(lamp:set_color("blue"))
      assert(lamp:set_color_temperature("soft white"))
      assert(lamp:set_color_temperature(4000))
      assert(lamp:warmer())
      assert(lamp:cooler())
      assert(lamp:off())
      local spk = device("` + speaker + `")
      assert(spk:set_volume(30))
      assert(spk:adjust_volume(5))
      ctx.log.info("brightness=%d power=%s volume=%d", lamp:get("brightness"), lamp:get("power"), spk:get("volume"))
      ctx.log.info("name=%s id=%s", spk.name, spk.id)
    end,
  },
  rule "out-of-range" {
    when = event "range",
    run = function(ctx, ev)
      device("Bedroom Lamp"):set_brightness(150)
    end,
  },
  rule "not-found" {
    when = event "missing",
    run = function(ctx, ev)
      local ok, err = device("Living Room Fan"):set_brightness(10)
      ctx.log.info("ok=%s status=%s type=%s text=%s", tostring(ok), tostring(err.status), tostring(err.type), tostring(err))
    end,
  },
  rule "busy" {
    when = event "busy",
    run = function(ctx, ev)
      local ok, err = device("Kitchen Light"):set_brightness(55)
      ctx.log.info("ok=%s", tostring(ok))
    end,
  },
}`

func startSim(t *testing.T) (*sim.Server, string) {
	t.Helper()
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func apiCalls(s *sim.Server, prefix string) []sim.Request {
	return requestsSince(s, 0, func(r sim.Request) bool { return strings.HasPrefix(r.Path, prefix) })
}

// requestsSince are the requests of the simulator's log from index from
// on that match.
func requestsSince(s *sim.Server, from int, match func(sim.Request) bool) []sim.Request {
	var out []sim.Request
	reqs := s.Requests()
	for _, r := range reqs[min(from, len(reqs)):] {
		if match(r) {
			out = append(out, r)
		}
	}
	return out
}

func TestRulesDriveTheSimulatedCloud(t *testing.T) {
	s, url := startSim(t)
	dir := t.TempDir()
	write(t, dir, "r.lua", deviceRules)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), "--cloud", url)

	d.post("/api/events", `{"name":"all"}`)
	d.waitFor(func() bool { return len(d.runs("all-ops")) == 1 }, "the all-ops run")
	run := d.runs("all-ops")[0]
	if run["outcome"] != "ok" {
		t.Fatalf("all-ops: %v", run)
	}
	if got := fmt.Sprint(run["log"]); got != "[info: brightness=30 power=OFF volume=35 info: name=Living Room Speaker id="+speaker+"]" {
		t.Fatalf("live :get after the calls: %s", got)
	}
	want := []struct{ path, body string }{
		{"/v2/endpoints/" + bedroomLamp + "/features/power/turnOn", `null`},
		{"/v2/endpoints/" + bedroomLamp + "/features/brightness/setBrightness", `{"payload":{"brightness":40}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/brightness/adjustBrightness", `{"payload":{"brightnessDelta":-10}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/color/setColor", `{"payload":{"color":{"brightness":1,"hue":0,"saturation":1}}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/color/setColor", `{"payload":{"color":{"brightness":1,"hue":120,"saturation":0.5}}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/color/setColor", `{"payload":{"color":{"brightness":1,"hue":240,"saturation":1}}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/colorTemperature/setColorTemperature", `{"payload":{"colorTemperatureInKelvin":2700}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/colorTemperature/setColorTemperature", `{"payload":{"colorTemperatureInKelvin":4000}}`},
		{"/v2/endpoints/" + bedroomLamp + "/features/colorTemperature/decreaseColorTemperature", `null`},
		{"/v2/endpoints/" + bedroomLamp + "/features/colorTemperature/increaseColorTemperature", `null`},
		{"/v2/endpoints/" + bedroomLamp + "/features/power/turnOff", `null`},
		{"/v2/endpoints/" + speaker + "/features/speaker/setVolume", `{"payload":{"volume":30}}`},
		{"/v2/endpoints/" + speaker + "/features/speaker/adjustVolume", `{"payload":{"volumeDelta":5}}`},
	}
	var posts []sim.Request
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/v2/endpoints/") {
			posts = append(posts, r)
		}
	}
	if len(posts) != len(want) {
		t.Fatalf("%d update calls, want %d: %+v", len(posts), len(want), posts)
	}
	for i, w := range want {
		if posts[i].Path != w.path || normJSON(t, posts[i].Body) != normJSON(t, json.RawMessage(w.body)) || posts[i].Status != 200 {
			t.Errorf("call %d: %s %s -> %d, want %s %s", i, posts[i].Path, posts[i].Body, posts[i].Status, w.path, w.body)
		}
	}
	h := s.Household()
	for _, ep := range h.Endpoints {
		if ep.ID == bedroomLamp && (*ep.Features.Power != "OFF" || *ep.Features.Brightness != 30) {
			t.Errorf("simulator state: power %s brightness %d", *ep.Features.Power, *ep.Features.Brightness)
		}
	}

	// An argument out of range fails the run at file:line and sends nothing.
	s.ClearRequests()
	d.post("/api/events", `{"name":"range"}`)
	d.waitFor(func() bool { return len(d.runs("out-of-range")) == 1 }, "the out-of-range run")
	run = d.runs("out-of-range")[0]
	if run["outcome"] != "failed" || !strings.Contains(fmt.Sprint(run["error"]), "r.lua:28: bad argument #1 to set_brightness (0..100 expected, got 150)") {
		t.Fatalf("out of range: %v", run)
	}
	if n := len(apiCalls(s, "/v2/endpoints/")); n != 0 {
		t.Fatalf("out of range: %d requests sent", n)
	}

	// A 404 (a feature the endpoint lacks) comes back as nil, err.
	d.post("/api/events", `{"name":"missing"}`)
	d.waitFor(func() bool { return len(d.runs("not-found")) == 1 }, "the not-found run")
	run = d.runs("not-found")[0]
	if log := fmt.Sprint(run["log"]); run["outcome"] != "ok" || !strings.Contains(log, "ok=nil status=404 type=FEATURE_NOT_SUPPORTED") {
		t.Fatalf("404: %v", run)
	}
	if acts, _ := run["actions"].([]any); len(acts) != 1 {
		t.Fatalf("the failed action must be in the trace: %v", run["actions"])
	}

	// Two 429s then success: exactly three attempts.
	s.ClearRequests()
	fault := `[{"path_prefix":"/v2/endpoints/amzn1.alexa.endpoint.e0f1a2b3","status":429,"times":2,"retry_after":1}]`
	resp, err := http.Post(url+"/_sim/faults", "application/json", strings.NewReader(fault))
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("fault: %v %v", err, resp)
	}
	d.post("/api/events", `{"name":"busy"}`)
	d.waitFor(func() bool { return len(d.runs("busy")) == 1 }, "the busy run")
	if log := fmt.Sprint(d.runs("busy")[0]["log"]); log != "[info: ok=true]" {
		t.Fatalf("after two 429s: %s", log)
	}
	calls := apiCalls(s, "/v2/endpoints/amzn1.alexa.endpoint.e0f1a2b3")
	if len(calls) != 3 || calls[0].Status != 429 || calls[1].Status != 429 || calls[2].Status != 200 {
		t.Fatalf("attempts: %+v", calls)
	}
}

func TestDryRunRecordsActionsWithoutSending(t *testing.T) {
	s, url := startSim(t)
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "dry" { when = event "go", run = function() device("Bedroom Lamp"):set_brightness(5) end }`)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), "--cloud", url, "--dry-run")
	d.post("/api/events", `{"name":"go"}`)
	d.waitFor(func() bool { return len(d.runs("dry")) == 1 }, "the dry run")
	run := d.runs("dry")[0]
	if run["outcome"] != "dry_run" || !strings.Contains(fmt.Sprint(run["actions"]), "set_brightness") {
		t.Fatalf("dry run: %v", run)
	}
	for _, r := range s.Requests() {
		if r.Method == http.MethodPost && strings.HasPrefix(r.Path, "/v2/endpoints/") {
			t.Fatalf("dry run sent %s", r.Path)
		}
	}
}

func TestDevicesListsNamesAndIDs(t *testing.T) {
	_, url := startSim(t)
	out, errOut, code := runCLI(t, "devices", "--cloud", url, "--data", filepath.Join(t.TempDir(), "d.db"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// Both device backends (--cloud reaches both): the Endpoint Features
	// endpoints and the smart-home devices and groups.
	for _, want := range []string{"Bedroom Lamp", bedroomLamp, "Living Room Speaker", speaker, "Kitchen Echo", "G6G0XW0412650C3M", "Europe/Berlin",
		"SMART HOME", shKitchen, "group:" + shGroup, "Living Room Lamp, Living Room Fan"} {
		if !strings.Contains(out, want) {
			t.Errorf("devices output lacks %q:\n%s", want, out)
		}
	}
}

// devices --detail adds each Echo's wake word, DND and Wi-Fi, the session
// check and the household's members; without it the listing is as before.
func TestDevicesDetail(t *testing.T) {
	s, url := startSim(t)
	h := s.Household()
	h.Echos[1].DND = true // Kitchen Echo
	if err := s.SetHousehold(h); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "devices", "--cloud", url, "--data", filepath.Join(t.TempDir(), "d.db"), "--detail")
	if code != exitOK {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	kitchen := regexp.MustCompile(`(?m)^Kitchen Echo +G6G0XW0412650C3M +A4ZP7ZC4PI6TO +ECHO +Europe/Berlin +true +ALEXA +true +SimHome +[0-9A-F]{12}$`)
	bedroom := regexp.MustCompile(`(?m)^Bedroom Echo +G090LF1182340B7K .* +ALEXA +false +SimHome +[0-9A-F]{12}$`)
	for _, want := range []*regexp.Regexp{kitchen, bedroom, regexp.MustCompile(`ECHO +SERIAL .* +WAKE WORD +DND +WI-FI +MAC`),
		regexp.MustCompile(`(?m)^web session \(/api/customer-status\): ok$`), regexp.MustCompile(`(?m)^HOUSEHOLD MEMBER +ROLE +ID\n.+ +ADULT +\S+$`)} {
		if !want.MatchString(out) {
			t.Errorf("devices --detail output does not match %s:\n%s", want, out)
		}
	}
	plain, _, _ := runCLI(t, "devices", "--cloud", url, "--data", filepath.Join(t.TempDir(), "d.db"))
	if strings.Contains(plain, "WAKE WORD") || strings.Contains(plain, "web session") {
		t.Errorf("devices without --detail shows the detail:\n%s", plain)
	}
}

func normJSON(t *testing.T, b json.RawMessage) string {
	t.Helper()
	if len(b) == 0 {
		return "null"
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("bad JSON %s: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// These tests drive `alexarules run --devices smarthome` against the
// simulator's household smart-home API (GraphQL discovery, phoenix state
// and control), as a household's rules would run on real Amazon.

// The demo household's smart-home devices and group.
const (
	shLamp    = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01" // Bedroom Lamp
	shKitchen = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a05" // Kitchen Light (an alias)
	shFan     = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03" // Living Room Fan, a plug
	shSensor  = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04" // Living Room Sensor
	shGroup   = "b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01" // Living Room
)

const smartHomeRules = `
return {
  rule "lights" {
    when = event "lights",
    run = function(ctx, ev)
      local lamp = device("Bedroom Lamp")
      assert(lamp:on())
      assert(lamp:set_brightness(50))
      assert(lamp:set_color("red"))
      assert(lamp:set_color({ hue = 240, saturation = 1, brightness = 1 }))
      assert(lamp:set_color_temperature("soft white"))
      assert(lamp:set_color_temperature(3000))
      assert(device("Living Room"):off())
      local ok, err = device("Living Room Fan"):set_volume(10)
      ctx.log.info("volume on a plug: %s %s", tostring(ok), err.type)
      ctx.log.info("brightness %d", lamp:get("brightness"))
    end,
  },
  rule "typo" {
    when = event "typo",
    run = function(ctx, ev) device("Bedrom Lamp"):on() end,
  },
  rule "during" {
    when = event "during",
    run = function(ctx, ev)
      local ok, err = device("Kitchen Light"):on()
      ctx.log.info("kitchen: %s", ok and "on" or err.type)
    end,
  },
  rule "warm" {
    when = reading { device = "Living Room Sensor", attr = "temperature", above = 25 },
    run = function(ctx, ev) ctx.log.info("warm %g", ev.value) end,
  },
  rule "kitchen-power" {
    when = reading { device = "Kitchen Light", attr = "power", to = "ON" },
    run = function(ctx, ev) ctx.log.info("kitchen %s", ev.value) end,
  },
  rule "fan-gone" {
    when = unreachable { device = "Living Room Fan" },
    run = function(ctx, ev) ctx.log.info("%s unreachable", ev.device.name) end,
  },
}`

// smartHomeConfig pauses at most cooldown after throttle answers. The
// tests poll with --poll-interval 1s and no poll budget: one batched
// request a second follows from the interval alone.
func smartHomeConfig(t *testing.T, cooldown time.Duration) string {
	return writeConfig(t, fmt.Sprintf(`{"smarthome": {"cooldown": %q}}`, cooldown))
}

// control is the body of a PUT /api/phoenix/state for one entity.
func control(id, typ, params string) string {
	return `{"controlRequests":[{"entityId":"` + id + `","entityType":"` + typ + `","parameters":` + params + `}]}`
}

// smartHomeCalls are the requests to the smart-home API from index from of
// the request log on: phoenix state and control, GraphQL.
func smartHomeCalls(s *sim.Server, from int) []sim.Request {
	return requestsSince(s, from, func(r sim.Request) bool {
		return strings.HasPrefix(r.Path, "/api/phoenix/state") || r.Path == "/nexus/v1/graphql"
	})
}

func TestSmartHomeRulesWithCloud(t *testing.T) {
	s, url := startSim(t)
	dir := t.TempDir()
	write(t, dir, "r.lua", smartHomeRules)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), "--cloud", url, "--devices", "smarthome",
		"--push", "off", "--poll-interval", "1s", "--config", smartHomeConfig(t, 4*time.Second))
	checkLights(t, d, s)
	checkTypo(d)
	checkBatchedPolls(t, d, s)
	checkThrottleBurst(t, d, s, url, 4*time.Second)
}

// checkLights: a rule turns a light on and sets brightness, colour and
// colour temperature, turns a group off, and fails set_volume on a plug;
// the exact control requests go out and the trace says what was sent.
func checkLights(t *testing.T, d *daemon, s *sim.Server) {
	from := len(s.Requests())
	d.post("/api/events", `{"name":"lights"}`)
	d.waitFor(func() bool { return len(d.runs("lights")) == 1 }, "the lights run")
	run := d.runs("lights")[0]
	if run["outcome"] != "ok" || fmt.Sprint(run["log"]) != "[info: volume on a plug: nil UNSUPPORTED info: brightness 50]" {
		t.Fatalf("lights: %v", run)
	}
	lamp := func(params string) string { return control(shLamp, "ENTITY", params) }
	want := []struct{ method, body string }{
		{"PUT", lamp(`{"action":"turnOn"}`)},
		{"PUT", lamp(`{"action":"setBrightness","brightness":"50"}`)},
		{"PUT", lamp(`{"action":"setColor","colorName":"red"}`)},
		{"PUT", lamp(`{"action":"setColor","colorName":"blue"}`)},
		{"PUT", lamp(`{"action":"setColorTemperature","colorTemperatureName":"soft_white"}`)},
		{"POST", `{"query":"mutation updatePowerFeatureForEndpoints($featureControlRequests: [FeatureControlRequest!]!) ` +
			`{ setEndpointFeatures(setEndpointFeaturesInput: { featureControlRequests: $featureControlRequests }) ` +
			`{ featureControlResponses { endpointId featureOperationName __typename } errors { endpointId code __typename } __typename } }",` +
			`"variables":{"featureControlRequests":[{"endpointId":"amzn1.alexa.endpoint.` + shLamp + `","featureName":"colorTemperature",` +
			`"featureOperationName":"setColorTemperature","payload":{"colorTemperatureInKelvin":3000}}]}}`},
		{"PUT", control(shGroup, "GROUP", `{"action":"turnOff"}`)},
	}
	var got []sim.Request
	for _, r := range smartHomeCalls(s, from) {
		if r.Method == http.MethodPut || r.Path == "/nexus/v1/graphql" && strings.Contains(string(r.Body), "mutation") {
			got = append(got, r)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d control requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Method != w.method || normJSON(t, got[i].Body) != normJSON(t, json.RawMessage(w.body)) || got[i].Status != http.StatusOK {
			t.Errorf("control %d: %s %s -> %d\nwant %s %s", i, got[i].Method, got[i].Body, got[i].Status, w.method, w.body)
		}
	}
	acts, _ := run["actions"].([]any)
	if len(acts) < 4 || !strings.Contains(fmt.Sprint(acts[3]), "colorName:blue") || !strings.Contains(fmt.Sprint(acts[3]), "nearest Alexa colour to hue 240") {
		t.Errorf("the trace of set_color does not say what was sent: %v", acts)
	}
	for _, sh := range s.Household().SmartHome {
		if sh.ID == shLamp && (*sh.State.Power != "ON" || *sh.State.Brightness != 50 || *sh.State.ColorTemperature != 3000) {
			t.Errorf("simulator lamp: %s %d %d", *sh.State.Power, *sh.State.Brightness, *sh.State.ColorTemperature)
		}
	}
}

// checkTypo: an unknown device name fails the run with the near name.
func checkTypo(d *daemon) {
	d.post("/api/events", `{"name":"typo"}`)
	d.waitFor(func() bool { return len(d.runs("typo")) == 1 }, "the typo run")
	run := d.runs("typo")[0]
	if run["outcome"] != "failed" || !strings.Contains(fmt.Sprint(run["error"]), `unknown device "Bedrom Lamp" (did you mean "Bedroom Lamp"?)`) {
		d.t.Fatalf("typo: %v", run)
	}
}

// checkBatchedPolls: the readings of three devices are read in one state
// request, and a change read that way fires its trigger.
func checkBatchedPolls(t *testing.T, d *daemon, s *sim.Server) {
	d.waitFor(func() bool {
		for _, r := range smartHomeCalls(s, 0) {
			b := string(r.Body)
			if r.Method == http.MethodPost && r.Path == "/api/phoenix/state" && r.Status == http.StatusOK &&
				strings.Count(b, `"entityId"`) == 3 && strings.Contains(b, shSensor) && strings.Contains(b, shKitchen) && strings.Contains(b, shFan) {
				return true
			}
		}
		return false
	}, "one state request for the sensor, the kitchen light and the fan")
	patchSmartHome(t, s, shSensor, "temperature", 27.5)
	d.waitFor(func() bool { return logged(d, "warm", "info: warm 27.5") }, "the reading trigger")
	patchSmartHome(t, s, shFan, "connectivity", "UNREACHABLE")
	d.waitFor(func() bool { return logged(d, "fan-gone", "info: Living Room Fan unreachable") }, "the unreachable trigger")
}

// checkThrottleBurst: phoenix's and GraphQL's throttle answers pause every
// smart-home call of the account: for the Retry-After the answer names, or
// (GraphQL, none named) the cool-down. A rule's call made in the 2 s pause
// waits for its end and is applied then; a reading that changed meanwhile
// fires once the throttling ends.
func checkThrottleBurst(t *testing.T, d *daemon, s *sim.Server, url string, cooldown time.Duration) {
	patchSmartHome(t, s, shSensor, "temperature", 20.0) // rearms "warm"
	patchSmartHome(t, s, shKitchen, "power", "OFF")
	d.waitFor(func() bool { return readingOf(d, shSensor) == 20.0 }, "the sensor at 20")
	from := len(s.Requests())
	simPost(t, url, "/_sim/faults", `[{"path_prefix":"/api/phoenix/state","status":429,"times":1,"retry_after":2,`+
		`"body":{"message":"Too many requests. Try again in some time."}}]`)
	patchSmartHome(t, s, shSensor, "temperature", 28.0)
	d.waitFor(func() bool { return len(throttleAnswers(s, from, from, cooldown)) >= 1 }, "a throttled state request")
	d.waitFor(func() bool { return metric(d, "alexarules_smarthome_cooldown_seconds") > 0 }, "the cool-down on /metrics")
	d.post("/api/events", `{"name":"during"}`)
	d.waitFor(func() bool { return logged(d, "during", "info: kitchen: on") }, "a rule's call made while throttled, applied once it clears")
	if !strings.Contains(d.log(), `msg="alexa smarthome: waiting for the end of the throttle's cool-down" device=`+shKitchen) {
		t.Errorf("the rule's call did not wait for the cool-down:\n%s", d.log())
	}
	if power := smartHomePower(s, shKitchen); power != "ON" {
		t.Errorf("the simulator's Kitchen Light is %q after the rule's on() in the pause", power)
	}
	d.waitFor(func() bool { return logged(d, "warm", "info: warm 28") }, "the reading trigger once the throttling ends")
	// GraphQL's answer (HTTP 200) pauses the account too: the discovery
	// of a reload gets it.
	fromGraphQL := len(s.Requests())
	simPost(t, url, "/_sim/faults", `{"path_prefix":"/nexus/v1/graphql","status":200,"times":1,"body":{"errors":[{"message":"Too many requests",`+
		`"extensions":{"errorCode":"UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS","isRetryable":false}}],"data":null}}`)
	if code := d.post("/api/reload", ""); code != http.StatusOK {
		t.Fatalf("POST /api/reload: %d", code)
	}
	d.waitFor(func() bool { return len(throttleAnswers(s, from, fromGraphQL, cooldown)) > 1 }, "the GraphQL throttle answer")
	throttles := throttleAnswers(s, from, fromGraphQL, cooldown)
	d.waitFor(func() bool { return len(smartHomeCalls(s, fromGraphQL)) > 1 }, "a state request after the GraphQL throttle")
	// No request within a pause after a throttle answer (but those sent
	// together with it).
	for _, r := range smartHomeCalls(s, from) {
		for _, th := range throttles {
			if gap := r.Time.Sub(th.at); gap > 200*time.Millisecond && gap < th.pause-th.pause/20 {
				t.Errorf("%s %s %v after a throttle answer; want none within its %v pause", r.Method, r.Path, gap, th.pause)
			}
		}
	}
	if n := metric(d, "alexarules_poll_throttled_total"); n < 1 {
		t.Errorf("alexarules_poll_throttled_total %v, want the throttled reads counted", n)
	}
}

// throttle is a throttle answer and the pause it asked for.
type throttle struct {
	at    time.Time
	pause time.Duration
}

// throttleAnswers are the throttle answers from index from of the request
// log on: phoenix's 429s (pausing for their Retry-After), and the first
// GraphQL request from index fromGraphQL on, which the fault answered
// without one (pausing for cooldown, the configured cap, below the first
// pause of 30 s).
func throttleAnswers(s *sim.Server, from, fromGraphQL int, cooldown time.Duration) []throttle {
	var out []throttle
	graphql := from == fromGraphQL
	reqs := s.Requests()
	for i, r := range reqs[min(from, len(reqs)):] {
		switch {
		case r.Status == http.StatusTooManyRequests:
			out = append(out, throttle{r.Time, 2 * time.Second})
		case !graphql && from+i >= fromGraphQL && r.Path == "/nexus/v1/graphql":
			graphql = true
			out = append(out, throttle{r.Time, cooldown})
		}
	}
	return out
}

// smartHomePower is a smart-home device's power in the simulator's
// household, as control requests left it.
func smartHomePower(s *sim.Server, id string) string {
	for _, sh := range s.Household().SmartHome {
		if sh.ID == id && sh.State.Power != nil {
			return *sh.State.Power
		}
	}
	return ""
}

// polled reports whether a state request answered 200 has read the
// device id, from index from of the request log on.
func polled(s *sim.Server, from int, id string) bool {
	for _, r := range smartHomeCalls(s, from) {
		if r.Method == http.MethodPost && r.Path == "/api/phoenix/state" && r.Status == http.StatusOK && strings.Contains(string(r.Body), id) {
			return true
		}
	}
	return false
}

// patchSmartHome changes a smart-home device's state in the simulator.
func patchSmartHome(t *testing.T, s *sim.Server, id, field string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := s.PatchSmartHome(id, map[string]json.RawMessage{field: b}); err != nil {
		t.Fatal(err)
	}
}

// logged reports whether some run of rule logged line.
func logged(d *daemon, rule, line string) bool {
	for _, r := range d.runs(rule) {
		if log, _ := r["log"].([]any); len(log) > 0 && fmt.Sprint(log[0]) == line {
			return true
		}
	}
	return false
}

var metricLine = regexp.MustCompile(`(?m)^([a-z_]+) ([0-9.e+-]+)$`)

// metric is the value of an unlabelled metric on /metrics (-1 when absent).
func metric(d *daemon, name string) float64 {
	for _, m := range metricLine.FindAllStringSubmatch(d.get("/metrics"), -1) {
		if m[1] == name {
			v, _ := strconv.ParseFloat(m[2], 64)
			return v
		}
	}
	return -1
}

// A household login's rules reach the smart-home devices by default, on
// the session's cookies (renewed when the simulator expires them).
func TestSmartHomeRulesOfAHouseholdLogin(t *testing.T) {
	s, simURL := startSimH2(t)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "h.db")
	write(t, dir, "r.lua", `
return {
  rule "evening" {
    when = event "evening",
    run = function(ctx, ev)
      assert(device("Living Room"):on())
      local kitchen = device("Kitchen Light")
      assert(kitchen:on())
      assert(kitchen:set_brightness(30))
    end,
  },
  rule "kitchen-on" {
    when = reading { device = "Kitchen Light", attr = "power", to = "ON" },
    run = function(ctx, ev) ctx.log.info("%s %s", ev.device.name, ev.value) end,
  },
  rule "warm" {
    when = reading { device = "Living Room Sensor", attr = "temperature", above = 25 },
    run = function(ctx, ev) ctx.log.info("warm %g", ev.value) end,
  },
}`)
	signIn(t, simURL, data)
	out, errOut, code := runCLI(t, "devices", "--cloud", simURL, "--data", data, "--devices", "smarthome")
	for _, want := range []string{"SMART HOME", "Living Room", "group:" + shGroup, "Living Room Lamp, Living Room Fan", "Kitchen Light", shKitchen, "Kitchen Echo"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Fatalf("devices: exit %d, output lacks %q:\n%s%s", code, want, out, errOut)
		}
	}
	if strings.Contains(out, "amzn1.alexa.endpoint.") {
		t.Errorf("devices --devices smarthome lists Endpoint Features endpoints:\n%s", out)
	}
	d := startRun(t, dir, data, "--cloud", simURL, "--push", "off", "--poll-interval", "1s", "--config", smartHomeConfig(t, time.Minute))
	// The light is read OFF first, so that turning it on is a change.
	d.waitFor(func() bool { return polled(s, 0, shKitchen) }, "the first poll")
	from := len(s.Requests())
	simPost(t, simURL, "/_sim/auth/expire", `{"cookies":true}`)
	d.post("/api/events", `{"name":"evening"}`)
	d.waitFor(func() bool { return len(d.runs("evening")) == 1 }, "the evening run")
	if run := d.runs("evening")[0]; run["outcome"] != "ok" {
		t.Fatalf("evening: %v", run)
	}
	var puts []string
	for _, r := range smartHomeCalls(s, from) {
		if r.Method == http.MethodPut && r.Status == http.StatusOK {
			puts = append(puts, normJSON(t, r.Body))
		}
	}
	want := []string{normJSON(t, json.RawMessage(control(shGroup, "GROUP", `{"action":"turnOn"}`))),
		normJSON(t, json.RawMessage(control(shKitchen, "ENTITY", `{"action":"turnOn"}`))),
		normJSON(t, json.RawMessage(control(shKitchen, "ENTITY", `{"action":"setBrightness","brightness":"30"}`)))}
	if fmt.Sprint(puts) != fmt.Sprint(want) {
		t.Fatalf("control requests %v\nwant %v", puts, want)
	}
	if countCalls(s, from, "/ap/exchangetoken/cookies", 200, 200) == 0 {
		t.Errorf("the expired cookies were not exchanged: the smart-home calls did not use the household session")
	}
	d.waitFor(func() bool { return logged(d, "kitchen-on", "info: Kitchen Light ON") }, "the kitchen light's reading")
	patchSmartHome(t, s, shSensor, "temperature", 26.0)
	d.waitFor(func() bool { return logged(d, "warm", "info: warm 26") }, "the sensor's reading")
	if !strings.Contains(d.log(), `msg="device() uses the household smart-home API"`) {
		t.Errorf("a household login does not default to the smart-home backend:\n%s", d.log())
	}
}

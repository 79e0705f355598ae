package sim_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// The signed-in customer's id (/api/users/me .id) and the device owner id
// devices-v2 reports, which differs from it in the simulator.
const (
	customerID = "amzn1.account.SIMA1SIMCUSTOMER1"
	ownerID    = "A1SIMCUSTOMER1"
)

// Echos of echoHousehold.
const (
	kitchenSerial = "G6G0XW0412650C3M"
	kitchenType   = "A4ZP7ZC4PI6TO"
	officeSerial  = "G2A0V7048274078P"
	officeType    = "A3S5BH2HU6VAYF"
	groupSerial   = "GROUP0000000001"
	groupType     = "A3C9PE6TNYLTCH"
)

// echoHousehold has two Echos, a speaker group of both, a player on the
// office Echo and a routine.
func echoHousehold() sim.Household {
	return sim.Household{
		Echos: []sim.Echo{
			{Serial: kitchenSerial, Type: kitchenType, Name: "Kitchen Echo", Timezone: "Europe/Berlin"},
			{Serial: officeSerial, Type: officeType, Name: "Office Echo", Timezone: "Europe/Berlin", Volume: new(40)},
			{Serial: groupSerial, Type: groupType, Name: "Everywhere", Family: "WHA", Members: []string{kitchenSerial, officeSerial}},
		},
		Players: []sim.Player{{Echo: "Office Echo", State: "PLAYING", Title: "Cheap Thrills", Artist: "Sia",
			Album: "This Is Acting", Provider: "Amazon Music", Position: 22, Length: 211}},
		Routines: []sim.Routine{{Name: "Good night", Utterances: []string{"good night", "sleep well"}}},
	}
}

// node is an operation node as alexa-remote builds it: skillId on the
// node, the base payload with the signed-in customer's id.
func node(typ, skill, serial, devType string, fields map[string]any) map[string]any {
	p := map[string]any{"deviceType": devType, "deviceSerialNumber": serial, "locale": "en-US", "customerId": customerID}
	maps.Copy(p, fields)
	n := map[string]any{"@type": "com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode", "type": typ, "operationPayload": p}
	if skill != "" {
		n["skillId"] = skill
	}
	return n
}

func speakNode(serial, devType, text string) map[string]any {
	return node("Alexa.Speak", "amzn1.ask.1p.saysomething", serial, devType, map[string]any{"textToSpeak": text})
}

// announceNode is one AlexaAnnouncement to every device of devs
// (serial, type pairs), without the base device fields.
func announceNode(speakType, text, title string, devs ...string) map[string]any {
	var targets []any
	for i := 0; i+1 < len(devs); i += 2 {
		targets = append(targets, map[string]any{"deviceSerialNumber": devs[i], "deviceTypeId": devs[i+1]})
	}
	return map[string]any{
		"@type": "com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode", "type": "AlexaAnnouncement",
		"skillId": "amzn1.ask.1p.routines.messaging",
		"operationPayload": map[string]any{
			"customerId": customerID, "expireAfter": "PT5S",
			"content": []any{map[string]any{"locale": "en-US", "display": map[string]any{"title": title, "body": text},
				"speak": map[string]any{"type": speakType, "value": text}}},
			"target": map[string]any{"customerId": customerID, "devices": targets},
		},
	}
}

// sequenceOf wraps nodes in a Sequence with a SerialNode start node.
func sequenceOf(nodes ...any) map[string]any {
	return map[string]any{"@type": "com.amazon.alexa.behaviors.model.Sequence",
		"startNode": map[string]any{"@type": "com.amazon.alexa.behaviors.model.SerialNode", "name": nil, "nodesToExecute": nodes}}
}

func parallel(nodes ...any) map[string]any {
	return map[string]any{"@type": "com.amazon.alexa.behaviors.model.ParallelNode", "name": nil, "nodesToExecute": nodes}
}

// preview posts a sequence (a value marshalled into sequenceJson) as
// behaviorId.
func (e *env) preview(behaviorID string, seq any) response {
	e.t.Helper()
	b, err := json.Marshal(seq)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.web(http.MethodPost, "/api/behaviors/preview",
		map[string]any{"behaviorId": behaviorID, "sequenceJson": string(b), "status": "ENABLED"})
}

// noThrottle switches the preview token bucket off.
func (e *env) noThrottle() {
	e.t.Helper()
	if r := e.do(http.MethodPut, "/_sim/throttle", "", `{"/api/behaviors/preview":{"per_second":0}}`); r.status != http.StatusOK {
		e.t.Fatalf("throttle: %d %s", r.status, r.raw)
	}
}

// spokenEntry is a Spoken without its time, for comparisons.
type spokenEntry struct {
	Device, Serial, Kind, Text, Title, Routine string
}

func spokenOf(h sim.Household) []spokenEntry {
	var out []spokenEntry
	for _, s := range h.Spoken {
		out = append(out, spokenEntry{s.Device, s.Serial, s.Kind, s.Text, s.Title, s.Routine})
	}
	return out
}

func checkSpoken(t *testing.T, got sim.Household, want ...spokenEntry) {
	t.Helper()
	g := spokenOf(got)
	if len(g) != len(want) {
		t.Fatalf("spoken %+v, want %+v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("spoken[%d] %+v, want %+v", i, g[i], want[i])
		}
	}
}

func TestPreviewRecordsSpoken(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.noThrottle()
	r := e.preview("PREVIEW", sequenceOf(
		speakNode(kitchenSerial, kitchenType, "Dinner is ready"),
		announceNode("text", "Leaving in 5", "Home", kitchenSerial, kitchenType, officeSerial, officeType),
		announceNode("ssml", "<speak>Hi <break time='1s'/> there</speak>", "Home", officeSerial, officeType),
		parallel(
			node("Alexa.Sound", "amzn1.ask.1p.sound", kitchenSerial, kitchenType, map[string]any{"soundStringId": "amzn_sfx_doorbell_chime_01"}),
			node("Alexa.TextCommand", "amzn1.ask.1p.tellalexa", officeSerial, officeType, map[string]any{"text": "turn on the hall light"}),
		),
		node("Alexa.System.Wait", "", kitchenSerial, kitchenType, map[string]any{"waitTimeInSeconds": 2}),
	))
	if r.status != http.StatusOK || len(r.raw) != 0 || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("answer %d %q %q", r.status, r.header.Get("Content-Type"), r.raw)
	}
	h := e.household()
	checkSpoken(t, h,
		spokenEntry{"Kitchen Echo", kitchenSerial, "speak", "Dinner is ready", "", ""},
		spokenEntry{"Kitchen Echo", kitchenSerial, "announce", "Leaving in 5", "Home", ""},
		spokenEntry{"Office Echo", officeSerial, "announce", "Leaving in 5", "Home", ""},
		spokenEntry{"Office Echo", officeSerial, "ssml", "<speak>Hi <break time='1s'/> there</speak>", "Home", ""},
		spokenEntry{"Kitchen Echo", kitchenSerial, "sound", "amzn_sfx_doorbell_chime_01", "", ""},
		spokenEntry{"Office Echo", officeSerial, "command", "turn on the hall light", "", ""},
	)
	if !h.Spoken[0].Time.Equal(e.clock.Now()) {
		t.Errorf("time %v, want %v", h.Spoken[0].Time, e.clock.Now())
	}
	// The request log keeps the body as sent.
	reqs := e.sim.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/api/behaviors/preview" || last.Status != http.StatusOK || !strings.Contains(string(last.Body), `"sequenceJson":"{`) {
		t.Errorf("recorded %+v", last)
	}
}

// A single operation node as the start node is what alexa-remote sends
// for one command; skillId inside the payload is what alexapy sends.
func TestPreviewNodeShapes(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.noThrottle()
	single := speakNode(kitchenSerial, kitchenType, "one")
	if r := e.preview("PREVIEW", map[string]any{"@type": "com.amazon.alexa.behaviors.model.Sequence", "startNode": single}); r.status != http.StatusOK {
		t.Fatalf("single node: %d %s", r.status, r.raw)
	}
	inPayload := node("Alexa.Speak", "", officeSerial, officeType, map[string]any{"textToSpeak": "two", "skillId": "amzn1.ask.1p.saysomething"})
	if r := e.preview("PREVIEW", sequenceOf(inPayload)); r.status != http.StatusOK {
		t.Fatalf("skillId in payload: %d %s", r.status, r.raw)
	}
	checkSpoken(t, e.household(),
		spokenEntry{"Kitchen Echo", kitchenSerial, "speak", "one", "", ""},
		spokenEntry{"Office Echo", officeSerial, "speak", "two", "", ""})
}

func TestPreviewValidation(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.noThrottle()
	speak := func(text string) any { return sequenceOf(speakNode(kitchenSerial, kitchenType, text)) }
	withPayload := func(n map[string]any, k string, v any) map[string]any {
		n["operationPayload"].(map[string]any)[k] = v
		return n
	}
	tests := []struct {
		name string
		body any // a raw string body, or a sequence value
		want string
	}{
		{"not JSON", `{"behaviorId":"PREVIEW",`, "not a JSON object"},
		{"sequenceJson not a string", `{"behaviorId":"PREVIEW","sequenceJson":{"@type":"x"},"status":"ENABLED"}`, "not a string"},
		{"sequenceJson missing", `{"behaviorId":"PREVIEW","status":"ENABLED"}`, "not a string"},
		{"sequenceJson not JSON", `{"behaviorId":"PREVIEW","sequenceJson":"{nope","status":"ENABLED"}`, "sequenceJson is not JSON"},
		{"status", `{"behaviorId":"PREVIEW","sequenceJson":"{}","status":"DISABLED"}`, `status "DISABLED"`},
		{"unknown behaviorId", `{"behaviorId":"amzn1.alexa.automation.nope","sequenceJson":"{\"@type\":\"com.amazon.alexa.behaviors.model.Sequence\",\"startNode\":{\"@type\":\"com.amazon.alexa.behaviors.model.SerialNode\",\"nodesToExecute\":[]}}","status":"ENABLED"}`, "neither PREVIEW nor an automationId"},
		{"sequence @type", map[string]any{"@type": "Sequence", "startNode": map[string]any{}}, `unknown @type "Sequence"`},
		{"node @type", sequenceOf(map[string]any{"@type": "com.amazon.alexa.behaviors.model.LoopNode"}), `unknown @type "com.amazon.alexa.behaviors.model.LoopNode"`},
		{"node type", sequenceOf(node("Alexa.Speek", "amzn1.ask.1p.saysomething", kitchenSerial, kitchenType, nil)), `unknown node type "Alexa.Speek"`},
		{"skill", sequenceOf(node("Alexa.Speak", "amzn1.ask.1p.sound", kitchenSerial, kitchenType, map[string]any{"textToSpeak": "x"})), `skillId "amzn1.ask.1p.sound" is not the type's skill`},
		{"no skill", sequenceOf(node("Alexa.Speak", "", kitchenSerial, kitchenType, map[string]any{"textToSpeak": "x"})), `skillId "" is not`},
		{"empty text", speak("  "), "textToSpeak is empty"},
		{"long text", speak(strings.Repeat("a", 251)), "textToSpeak is 251 characters, more than 250"},
		{"empty announcement", sequenceOf(announceNode("text", "", "t", kitchenSerial, kitchenType)), "speak.value is empty"},
		{"long announcement", sequenceOf(announceNode("text", strings.Repeat("b", 251), "t", kitchenSerial, kitchenType)), "more than 250"},
		{"ssml without speak", sequenceOf(announceNode("ssml", "hi", "t", kitchenSerial, kitchenType)), "must start with <speak>"},
		{"empty command", sequenceOf(node("Alexa.TextCommand", "amzn1.ask.1p.tellalexa", kitchenSerial, kitchenType, map[string]any{"text": ""})), "text is empty"},
		{"unknown device", sequenceOf(speakNode("G000NOPE", kitchenType, "x")), `unknown device serial "G000NOPE"`},
		{"all devices outside stop and dnd", sequenceOf(speakNode("ALEXA_ALL_DSN", "ALEXA_ALL_DEVICE_TYPE", "x")), `unknown device serial "ALEXA_ALL_DSN"`},
		{"unknown announcement device", sequenceOf(announceNode("text", "x", "t", kitchenSerial, kitchenType, "G000NOPE", kitchenType)), `unknown device serial "G000NOPE"`},
		{"wrong device type", sequenceOf(speakNode(kitchenSerial, officeType, "x")), "is not the type of"},
		{"placeholder serial", sequenceOf(speakNode("ALEXA_CURRENT_DSN", kitchenType, "x")), "unreplaced placeholder ALEXA_CURRENT_DSN"},
		{"placeholder locale", sequenceOf(withPayload(speakNode(kitchenSerial, kitchenType, "x"), "locale", "ALEXA_CURRENT_LOCALE")), "unreplaced placeholder ALEXA_CURRENT_LOCALE"},
		{"placeholder customer", sequenceOf(withPayload(speakNode(kitchenSerial, kitchenType, "x"), "customerId", "ALEXA_CUSTOMER_ID")), "unreplaced placeholder ALEXA_CUSTOMER_ID"},
		{"device owner as customer", sequenceOf(withPayload(speakNode(kitchenSerial, kitchenType, "x"), "customerId", ownerID)), `customerId "A1SIMCUSTOMER1" is not the signed-in customer's`},
		{"no customer", sequenceOf(withPayload(speakNode(kitchenSerial, kitchenType, "x"), "customerId", nil)), `customerId "" is not`},
		{"volume range", sequenceOf(node("Alexa.DeviceControls.Volume", "amzn1.ask.1p.alexadevicecontrols", kitchenSerial, kitchenType, map[string]any{"value": 101})), "not an integer 0..100"},
		{"dnd action", sequenceOf(dndNode("On", "", kitchenSerial, kitchenType)), `action "On"`},
		{"dnd duration", sequenceOf(dndNode("Enable", "DURATION#PT13H", kitchenSerial, kitchenType)), "at most 12h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r response
			if s, ok := tt.body.(string); ok {
				r = e.web(http.MethodPost, "/api/behaviors/preview", s)
			} else {
				r = e.preview("PREVIEW", tt.body)
			}
			msg, _ := r.json(t)["message"].(string)
			if r.status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Errorf("%d %s, want 400 with %q", r.status, r.raw, tt.want)
			}
		})
	}
	// Nothing of a rejected sequence takes effect, even its valid nodes.
	r := e.preview("PREVIEW", sequenceOf(speakNode(kitchenSerial, kitchenType, "first"), speakNode("G000NOPE", kitchenType, "second")))
	if r.status != http.StatusBadRequest {
		t.Errorf("half-valid sequence: %d %s", r.status, r.raw)
	}
	if h := e.household(); len(h.Spoken) != 0 {
		t.Errorf("spoken after rejections: %+v", h.Spoken)
	}
}

func TestPreviewCustomerIDCheckIgnore(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.noThrottle()
	if r := e.do(http.MethodPut, "/_sim/auth", "", `{"customer_id_check":"sometimes"}`); r.status != http.StatusBadRequest {
		t.Errorf("bad value: %d %s", r.status, r.raw)
	}
	r := e.do(http.MethodPut, "/_sim/auth", "", `{"customer_id_check":"ignore"}`)
	if r.status != http.StatusOK || r.json(t)["customer_id_check"] != "ignore" {
		t.Fatalf("set ignore: %d %s", r.status, r.raw)
	}
	n := speakNode(kitchenSerial, kitchenType, "owner id")
	n["operationPayload"].(map[string]any)["customerId"] = ownerID
	if r := e.preview("PREVIEW", sequenceOf(n)); r.status != http.StatusOK {
		t.Fatalf("ignored customer id: %d %s", r.status, r.raw)
	}
	checkSpoken(t, e.household(), spokenEntry{"Kitchen Echo", kitchenSerial, "speak", "owner id", "", ""})
}

func TestPreviewThrottle(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	seq := sequenceOf(speakNode(kitchenSerial, kitchenType, "hi"))
	for i := range 3 {
		if r := e.preview("PREVIEW", seq); r.status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, r.status, r.raw)
		}
	}
	r := e.preview("PREVIEW", seq)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.raw), "Rate exceeded") || r.header.Get("Retry-After") != "" {
		t.Fatalf("fourth call: %d %v %s", r.status, r.header, r.raw)
	}
	// A third of a second (rounded up) gives one token back.
	e.clock.Advance(334 * time.Millisecond)
	if r := e.preview("PREVIEW", seq); r.status != http.StatusOK {
		t.Errorf("after 1/3 s: %d %s", r.status, r.raw)
	}
	if r := e.preview("PREVIEW", seq); r.status != http.StatusTooManyRequests {
		t.Errorf("again: %d %s", r.status, r.raw)
	}
	if h := e.household(); len(h.Spoken) != 4 {
		t.Errorf("%d spoken, want 4 (throttled calls do nothing)", len(h.Spoken))
	}
	// Throttled calls are recorded like any other.
	reqs := e.sim.Requests()
	if got := reqs[len(reqs)-1]; got.Path != "/api/behaviors/preview" || got.Status != http.StatusTooManyRequests {
		t.Errorf("last recorded %+v", got)
	}
	var limits map[string]sim.Limit
	e.do(http.MethodGet, "/_sim/throttle", "", nil).decode(t, http.StatusOK, &limits)
	if l := limits["/api/behaviors/preview"]; l.PerSecond != 3 || l.Burst != 3 {
		t.Errorf("limits %+v", limits)
	}
	for _, body := range []string{`{"/api/x":{"per_second":-1}}`, `{"api/x":{"per_second":1,"burst":1}}`, `{"/api/x":{"per_second":1,"burst":0}}`, `{"/api/x":{"rate":1}}`} {
		if r := e.do(http.MethodPut, "/_sim/throttle", "", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
}

// TestThrottleAnyPath: PUT /_sim/throttle throttles any API path, not
// only the ones throttled out of the box.
func TestThrottleAnyPath(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	const path = "/api/np/player"
	if r := e.do(http.MethodPut, "/_sim/throttle", "", `{"`+path+`":{"per_second":1,"burst":1}}`); r.status != http.StatusOK {
		t.Fatalf("throttle: %d %s", r.status, r.raw)
	}
	get := func() response {
		return e.web(http.MethodGet, path+"?deviceSerialNumber="+officeSerial+"&deviceType="+officeType, nil)
	}
	if r := get(); r.status != http.StatusOK {
		t.Fatalf("first call: %d %s", r.status, r.raw)
	}
	r := get()
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.raw), "Rate exceeded") || r.header.Get("Retry-After") != "" {
		t.Fatalf("second call: %d %v %s", r.status, r.header, r.raw)
	}
	if reqs := e.sim.Requests(); reqs[len(reqs)-1].Path != path || reqs[len(reqs)-1].Status != http.StatusTooManyRequests {
		t.Errorf("last recorded %+v", reqs[len(reqs)-1])
	}
	e.clock.Advance(time.Second)
	if r := get(); r.status != http.StatusOK {
		t.Errorf("after 1 s: %d %s", r.status, r.raw)
	}
}

func TestPreviewFaults(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.do(http.MethodPost, "/_sim/faults", "", `[{"path_prefix":"/api/behaviors/preview","status":503,"times":1}]`)
	if r := e.preview("PREVIEW", sequenceOf(speakNode(kitchenSerial, kitchenType, "hi"))); r.status != http.StatusServiceUnavailable {
		t.Errorf("faulted: %d %s", r.status, r.raw)
	}
	if r := e.preview("PREVIEW", sequenceOf(speakNode(kitchenSerial, kitchenType, "hi"))); r.status != http.StatusOK {
		t.Errorf("after the fault: %d %s", r.status, r.raw)
	}
	if h := e.household(); len(h.Spoken) != 1 {
		t.Errorf("spoken %+v", h.Spoken)
	}
}

func dndNode(action, duration, serial, devType string) map[string]any {
	p := map[string]any{"customerId": customerID, "action": action, "isAssociatedDevice": false,
		"devices": []any{map[string]any{"deviceSerialNumber": serial, "deviceTypeId": devType, "deviceAccountId": "A1"}}}
	if duration != "" {
		p["duration"] = duration
	}
	return map[string]any{"@type": "com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode",
		"type": "Alexa.DeviceControls.DoNotDisturb", "skillId": "amzn1.ask.1p.alexadevicecontrols", "operationPayload": p}
}

package sim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// Smart-home ids the tests name.
const (
	lampID   = "0d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a01"
	plugID   = "0d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a02"
	sensorID = "0d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a03"
	bulbID   = "0d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a04"
	groupID  = "5e6f7a8b-1c2d-4e3f-9a0b-1c2d3e4f5a06"
)

// smartHomeHousehold has a colour lamp, a plug, a sensor and a dimmable
// bulb; the lamp and the bulb form the Living Room group.
func smartHomeHousehold() sim.Household {
	return sim.Household{
		SmartHome: []sim.SmartHomeDevice{
			{ID: lampID, Name: "Desk Lamp", Aliases: []string{"Reading Light"}, Type: "LIGHT", State: sim.Features{
				Power: new("OFF"), Brightness: new(40),
				Color:            &sim.Color{Hue: 30, Saturation: 0.6, Brightness: 0.4},
				ColorTemperature: new(2700), Connectivity: new("OK"),
			}},
			{ID: plugID, Name: "Fan Plug", Type: "PLUG", State: sim.Features{Power: new("ON")}},
			{ID: sensorID, Name: "Hall Sensor", Type: "TEMPERATURE_SENSOR", State: sim.Features{Temperature: new(21.5)}},
			{ID: bulbID, Name: "Sofa Bulb", Type: "LIGHT", State: sim.Features{Power: new("OFF"), Brightness: new(10)}},
		},
		Groups: []sim.Group{{ID: groupID, Name: "Living Room", Members: []string{lampID, bulbID}}},
	}
}

func (e *env) smartHome(id string) sim.Features {
	e.t.Helper()
	for _, d := range e.household().SmartHome {
		if d.ID == id {
			return d.State
		}
	}
	e.t.Fatalf("no smarthome device %s", id)
	return sim.Features{}
}

type phoenixStates struct {
	DeviceStates []struct {
		Entity           map[string]string `json:"entity"`
		CapabilityStates []string          `json:"capabilityStates"`
	} `json:"deviceStates"`
	Errors []map[string]any `json:"errors"`
}

// states decodes every capabilityStates string of entry i.
func (p phoenixStates) states(t *testing.T, i int) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, s := range p.DeviceStates[i].CapabilityStates {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("capability state %q: %v", s, err)
		}
		out[m["namespace"].(string)+"."+m["name"].(string)] = m
	}
	return out
}

func entity(id, typ string) map[string]any { return map[string]any{"entityId": id, "entityType": typ} }

func TestPhoenixStateRead(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	loaded := e.clock.Now()
	e.clock.Advance(90 * time.Second)
	if r := e.do(http.MethodPatch, "/_sim/smarthome/"+lampID, "", map[string]any{"brightness": 80}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	var got phoenixStates
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{
		entity(lampID, "ENTITY"),
		entity(sim.ApplianceIDPrefix+sensorID, "APPLIANCE"),
		entity(plugID, "APPLIANCE"), // UUID + APPLIANCE: not found (research §3)
		entity("no-such-id", "ENTITY"),
	}}).decode(t, http.StatusOK, &got)
	if len(got.DeviceStates) != 2 || len(got.Errors) != 2 {
		t.Fatalf("answer: %+v", got)
	}
	if ent := got.DeviceStates[0].Entity; ent["entityId"] != lampID || ent["entityType"] != "ENTITY" {
		t.Errorf("entity echo %v", ent)
	}
	lamp := got.states(t, 0)
	checkState := func(key string, want any, at time.Time) {
		t.Helper()
		st, ok := lamp[key]
		if !ok {
			t.Fatalf("no %s in %v", key, lamp)
		}
		if b, _ := json.Marshal(st["value"]); string(b) != want {
			t.Errorf("%s = %s, want %s", key, b, want)
		}
		if st["timeOfSample"] != at.UTC().Format("2006-01-02T15:04:05.000Z") {
			t.Errorf("%s timeOfSample %v, want %v", key, st["timeOfSample"], at)
		}
	}
	checkState("Alexa.PowerController.powerState", `"OFF"`, loaded)
	checkState("Alexa.BrightnessController.brightness", `80`, e.clock.Now())
	checkState("Alexa.ColorController.color", `{"brightness":0.4,"hue":30,"saturation":0.6}`, loaded)
	checkState("Alexa.ColorTemperatureController.colorTemperatureInKelvin", `2700`, loaded)
	checkState("Alexa.EndpointHealth.connectivity", `{"value":"OK"}`, loaded)
	sensor := got.states(t, 1)
	if b, _ := json.Marshal(sensor["Alexa.TemperatureSensor.temperature"]["value"]); string(b) != `{"scale":"CELSIUS","value":21.5}` {
		t.Errorf("temperature %s", b)
	}
	if got.DeviceStates[1].Entity["entityId"] != sim.ApplianceIDPrefix+sensorID {
		t.Errorf("entity echo %v", got.DeviceStates[1].Entity)
	}
	for i, id := range []string{plugID, "no-such-id"} {
		er := got.Errors[i]
		if er["code"] != "TargetApplianceNotFoundException" || er["message"] != "No appliance found for target!" ||
			er["entity"].(map[string]any)["entityId"] != id {
			t.Errorf("errors[%d] = %v", i, er)
		}
	}
}

func TestPhoenixStateProperties(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	var got phoenixStates
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{map[string]any{
		"entityId": lampID, "entityType": "ENTITY",
		"properties": []any{map[string]any{"namespace": "Alexa.PowerController", "name": "powerState"}},
	}}}).decode(t, http.StatusOK, &got)
	if len(got.DeviceStates) != 1 || len(got.DeviceStates[0].CapabilityStates) != 1 ||
		!strings.Contains(got.DeviceStates[0].CapabilityStates[0], `"powerState"`) {
		t.Errorf("answer %+v", got)
	}
}

func TestPhoenixUnreachableAndGroup(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	e.do(http.MethodPatch, "/_sim/smarthome/"+bulbID, "", map[string]any{"connectivity": "UNREACHABLE"})
	var got phoenixStates
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{entity(groupID, "GROUP")}}).
		decode(t, http.StatusOK, &got)
	if len(got.DeviceStates) != 1 || got.DeviceStates[0].Entity["entityId"] != lampID || got.DeviceStates[0].Entity["entityType"] != "ENTITY" {
		t.Fatalf("group read: %+v", got)
	}
	want := `[{"code":"ENDPOINT_UNREACHABLE","data":null,"entity":{"entityId":"` + bulbID + `","entityType":""},"message":null}]`
	if b, _ := json.Marshal(got.Errors); string(b) != want {
		t.Errorf("errors %s\nwant   %s", b, want)
	}
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{entity("nope", "GROUP")}}).
		decode(t, http.StatusOK, &got)
	if len(got.Errors) != 1 || got.Errors[0]["code"] != "TargetApplianceNotFoundException" {
		t.Errorf("unknown group: %+v", got)
	}
}

type phoenixControl struct {
	ControlResponses []map[string]any `json:"controlResponses"`
	Errors           []map[string]any `json:"errors"`
}

func control(id, typ string, params map[string]any) map[string]any {
	return map[string]any{"entityId": id, "entityType": typ, "parameters": params}
}

func TestPhoenixControl(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	var got phoenixControl
	e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{
		control(lampID, "ENTITY", map[string]any{"action": "turnOn"}),
		control(lampID, "ENTITY", map[string]any{"action": "setBrightness", "brightness": "55"}),
		control(lampID, "APPLIANCE", map[string]any{"action": "setColor", "colorName": "red"}), // UUID + APPLIANCE works for control
		control(sim.ApplianceIDPrefix+lampID, "APPLIANCE", map[string]any{"action": "setColorTemperature", "colorTemperatureName": "cool_white"}),
		control(plugID, "", map[string]any{"action": "turnOff"}), // node-red omits entityType
	}}).decode(t, http.StatusOK, &got)
	if len(got.ControlResponses) != 5 || len(got.Errors) != 0 {
		t.Fatalf("answer %+v", got)
	}
	if got.ControlResponses[3]["entityId"] != sim.ApplianceIDPrefix+lampID || got.ControlResponses[3]["code"] != "SUCCESS" {
		t.Errorf("response echo %v", got.ControlResponses[3])
	}
	lamp := e.smartHome(lampID)
	if *lamp.Power != "ON" || *lamp.Brightness != 55 || *lamp.ColorTemperature != 7000 ||
		*lamp.Color != (sim.Color{Hue: 0, Saturation: 1, Brightness: 1}) {
		t.Errorf("lamp state %+v %v", lamp, *lamp.Color)
	}
	if *e.smartHome(plugID).Power != "OFF" {
		t.Error("plug not off")
	}

	// A control gives the keys it changed a new time of sample, on the
	// simulator's clock; the others keep theirs.
	loaded := e.clock.Now()
	e.clock.Advance(10 * time.Minute)
	e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{
		control(plugID, "ENTITY", map[string]any{"action": "turnOn"}),
	}}).decode(t, http.StatusOK, &got)
	var states phoenixStates
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{entity(plugID, "ENTITY")}}).
		decode(t, http.StatusOK, &states)
	plug := states.states(t, 0)
	layout := "2006-01-02T15:04:05.000Z"
	if got := plug["Alexa.PowerController.powerState"]; got["value"] != "ON" || got["timeOfSample"] != e.clock.Now().Format(layout) {
		t.Errorf("power after the control %v, want ON at %v", got, e.clock.Now())
	}
	if got := plug["Alexa.EndpointHealth.connectivity"]["timeOfSample"]; got != loaded.Format(layout) {
		t.Errorf("connectivity sampled %v, want the load time %v", got, loaded)
	}
}

func TestPhoenixBrightnessForms(t *testing.T) {
	for _, tc := range []struct {
		value   any
		want    int
		flagged bool
	}{
		{"50", 50, false}, {50, 50, false}, {"0.5", 50, true}, {0.25, 25, true}, {"1", 1, true}, {1, 1, true}, {"1.0", 100, true},
		{"50.19607843137255", 50, false}, {"0", 0, false}, {100, 100, false}, {"1.2", 1, false},
	} {
		var log bytes.Buffer
		e := newEnv(t, smartHomeHousehold(), sim.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		var got phoenixControl
		e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{
			control(lampID, "ENTITY", map[string]any{"action": "setBrightness", "brightness": tc.value}),
		}}).decode(t, http.StatusOK, &got)
		// Values ≤ 1 are flagged in the log (the request log has the body
		// as sent): a fraction, or a 1 that might have meant 100 %.
		if noted := strings.Contains(log.String(), "fraction"); noted != tc.flagged {
			t.Errorf("brightness %#v: flagged %v, want %v: %s", tc.value, noted, tc.flagged, log.String())
		}
		if len(got.Errors) != 0 {
			t.Errorf("brightness %v: %+v", tc.value, got)
			continue
		}
		if b := *e.smartHome(lampID).Brightness; b != tc.want {
			t.Errorf("brightness %#v → %d, want %d", tc.value, b, tc.want)
		}
	}
}

func TestPhoenixControlRefusals(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	e.do(http.MethodPatch, "/_sim/smarthome/"+bulbID, "", map[string]any{"connectivity": "UNREACHABLE"})
	before := e.household()
	tests := []struct {
		req  map[string]any
		code string
	}{
		{control(plugID, "ENTITY", map[string]any{"action": "setBrightness", "brightness": 50}), "UNSUPPORTED_OPERATION"},
		{control(lampID, "ENTITY", map[string]any{"action": "fly"}), "UNSUPPORTED_OPERATION"},
		{control(lampID, "ENTITY", map[string]any{"action": "setBrightness", "brightness": 150}), "VALUE_OUT_OF_RANGE"},
		{control(lampID, "ENTITY", map[string]any{"action": "setBrightness", "brightness": "bright"}), "INVALID_VALUE"},
		{control(lampID, "ENTITY", map[string]any{"action": "setBrightness"}), "INVALID_VALUE"},
		{control(lampID, "ENTITY", map[string]any{"action": "setColor", "colorName": "black"}), "INVALID_VALUE"},
		{control(lampID, "ENTITY", map[string]any{"action": "setColorTemperature", "colorTemperatureName": "red"}), "INVALID_VALUE"},
		{control(bulbID, "ENTITY", map[string]any{"action": "turnOn"}), "ENDPOINT_UNREACHABLE"},
		{control(sim.ApplianceIDPrefix+lampID, "ENTITY", map[string]any{"action": "turnOn"}), "TargetApplianceNotFoundException"},
		{control("nope", "GROUP", map[string]any{"action": "turnOn"}), "TargetApplianceNotFoundException"},
	}
	for _, tc := range tests {
		var got phoenixControl
		e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{tc.req}}).decode(t, http.StatusOK, &got)
		if len(got.ControlResponses) != 0 || len(got.Errors) != 1 || got.Errors[0]["code"] != tc.code {
			t.Errorf("%v: %+v, want one %s error", tc.req, got, tc.code)
		}
	}
	after := e.household()
	if b1, b2 := mustJSON(t, before), mustJSON(t, after); b1 != b2 {
		t.Errorf("refused controls changed the household:\n%s\n%s", b1, b2)
	}
	for _, body := range []string{
		`not json`, `{}`, `{"controlRequests":[{"entityType":"ENTITY","parameters":{"action":"turnOn"}}]}`,
		`{"controlRequests":[{"entityId":"x","entityType":"DEVICE","parameters":{"action":"turnOn"}}]}`,
		`{"controlRequests":[{"entityId":"x","entityType":"ENTITY","parameters":{}}]}`,
	} {
		if r := e.web(http.MethodPut, "/api/phoenix/state", body); r.status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d %s", body, r.status, r.raw)
		}
	}
	for _, body := range []string{`[]`, `{"stateRequests":[{"entityType":"ENTITY"}]}`, `{"stateRequests":[{"entityId":"x","entityType":"X"}]}`} {
		if r := e.web(http.MethodPost, "/api/phoenix/state", body); r.status != http.StatusBadRequest {
			t.Errorf("POST %s: %d %s", body, r.status, r.raw)
		}
	}
}

func TestPhoenixGroupControl(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	var got phoenixControl
	e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{
		control(groupID, "GROUP", map[string]any{"action": "turnOn"}),
	}}).decode(t, http.StatusOK, &got)
	if len(got.ControlResponses) != 1 || got.ControlResponses[0]["entityId"] != groupID || len(got.Errors) != 0 {
		t.Fatalf("answer %+v", got)
	}
	if *e.smartHome(lampID).Power != "ON" || *e.smartHome(bulbID).Power != "ON" {
		t.Error("group members not on")
	}
	// A member failing fails the group request; the others still change.
	e.do(http.MethodPatch, "/_sim/smarthome/"+bulbID, "", map[string]any{"connectivity": "UNREACHABLE"})
	e.web(http.MethodPut, "/api/phoenix/state", map[string]any{"controlRequests": []any{
		control(groupID, "GROUP", map[string]any{"action": "turnOff"}),
	}}).decode(t, http.StatusOK, &got)
	if len(got.ControlResponses) != 0 || len(got.Errors) != 1 || got.Errors[0]["entity"].(map[string]any)["entityId"] != bulbID {
		t.Fatalf("answer %+v", got)
	}
	if *e.smartHome(lampID).Power != "OFF" || *e.smartHome(bulbID).Power != "ON" {
		t.Error("reachable member not off, or unreachable one changed")
	}
}

func TestPhoenixAuxiliary(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	if r := e.web(http.MethodGet, "/api/phoenix?includeRelationships=true", nil); r.status != 299 || len(r.raw) != 0 {
		t.Errorf("GET /api/phoenix: %d %q", r.status, r.raw)
	}
	var groups struct {
		ApplianceGroups []struct {
			GroupID      string   `json:"groupId"`
			Name         string   `json:"name"`
			ApplianceIDs []string `json:"applianceIds"`
		} `json:"applianceGroups"`
	}
	e.web(http.MethodGet, "/api/phoenix/group?_=1700000000000", nil).decode(t, http.StatusOK, &groups)
	if len(groups.ApplianceGroups) != 1 {
		t.Fatalf("groups %+v", groups)
	}
	g := groups.ApplianceGroups[0]
	if g.GroupID[strings.LastIndex(g.GroupID, ".")+1:] != groupID || g.Name != "Living Room" ||
		strings.Join(g.ApplianceIDs, ",") != sim.ApplianceIDPrefix+lampID+","+sim.ApplianceIDPrefix+bulbID {
		t.Errorf("group %+v", g)
	}
	var defs []struct {
		ID         string `json:"id"`
		Parameters []struct {
			Name       string `json:"name"`
			Constraint struct {
				Options []struct{ Data, DisplayName string } `json:"options"`
			} `json:"constraint"`
		} `json:"parameters"`
	}
	e.web(http.MethodGet, "/api/behaviors/actionDefinitions?skillId=amzn1.ask.1p.smarthome", nil).decode(t, http.StatusOK, &defs)
	options := map[string]map[string]string{}
	for _, d := range defs {
		for _, p := range d.Parameters {
			options[p.Name] = map[string]string{}
			for _, o := range p.Constraint.Options {
				options[p.Name][o.Data] = o.DisplayName
			}
		}
	}
	if options["colorName"]["light_sea_green"] != "Light Sea Green" || options["colorName"]["red"] != "Red" {
		t.Errorf("colour names %v", options["colorName"])
	}
	for _, w := range []string{"warm_white", "soft_white", "white", "daylight_white", "cool_white"} {
		if _, ok := options["colorTemperatureName"][w]; !ok {
			t.Errorf("no white %s in %v", w, options["colorTemperatureName"])
		}
	}
	var none []any
	e.web(http.MethodGet, "/api/behaviors/actionDefinitions?skillId=amzn1.ask.other", nil).decode(t, http.StatusOK, &none)
	if len(none) != 0 {
		t.Errorf("other skill: %v", none)
	}
	// Every route needs the web session.
	for _, path := range []string{"/api/phoenix/group", "/api/behaviors/actionDefinitions"} {
		if r := e.do(http.MethodGet, path, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("%s without session: %d", path, r.status)
		}
	}
	if r := e.do(http.MethodGet, "/api/phoenix", "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("/api/phoenix without session: %d", r.status)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		if r := e.do(method, "/api/phoenix/state", "", map[string]any{"stateRequests": []any{}}); r.status != http.StatusUnauthorized {
			t.Errorf("%s state without session: %d", method, r.status)
		}
		// A session cookie whose csrf the header does not repeat.
		req := e.request(method, "/api/phoenix/state", map[string]any{"controlRequests": []any{}})
		req.Header.Set("Cookie", webCookie)
		req.Header.Set("csrf", "0")
		if r := e.send(req); r.status != http.StatusUnauthorized {
			t.Errorf("%s state with a wrong csrf: %d", method, r.status)
		}
	}
}

// The throttle answers of research §7.1, as faults with a body.
const (
	phoenixThrottle = `{"message":"Too many requests. Try again in some time."}`
	graphQLThrottle = `{"errors":[{"message":"Too many requests","path":["endpoints"],"extensions":{"errorCode":"UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS","isRetryable":false,"classification":"DataFetchingException"}}],"data":null,"extensions":{"requestID":"0KMMF1D1SSVECYKXM3ZC","duration":12}}`
)

func TestFaultBodies(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	faults := `[{"path_prefix":"/api/phoenix/state","method":"POST","status":429,"times":1,"body":` + phoenixThrottle + `},
		{"path_prefix":"/api/phoenix/state","method":"PUT","status":400,"times":1,"retry_after":30,"body":` + phoenixThrottle + `},
		{"path_prefix":"/nexus/v1/graphql","status":200,"times":1,"body":` + graphQLThrottle + `}]`
	if r := e.do(http.MethodPost, "/_sim/faults", "", faults); r.status != http.StatusOK || !strings.Contains(string(r.raw), `"body":{"message"`) {
		t.Fatalf("POST faults: %d %s", r.status, r.raw)
	}
	read := map[string]any{"stateRequests": []any{entity(lampID, "ENTITY")}}
	turnOn := map[string]any{"controlRequests": []any{control(lampID, "ENTITY", map[string]any{"action": "turnOn"})}}
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		want         string
	}{
		{http.MethodPost, "/api/phoenix/state", read, 429, phoenixThrottle},
		{http.MethodPut, "/api/phoenix/state", turnOn, 400, phoenixThrottle},
		{http.MethodPost, "/nexus/v1/graphql", map[string]any{"query": endpointsQuery}, 200, graphQLThrottle},
	} {
		r := e.web(tc.method, tc.path, tc.body)
		if r.status != tc.status || string(r.raw) != tc.want || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %s %q\nwant %d %s", tc.method, tc.path, r.status, r.header.Get("Content-Type"), r.raw, tc.status, tc.want)
		}
	}
	if *e.smartHome(lampID).Power != "OFF" {
		t.Error("a throttled control changed the lamp")
	}
	// Used up: normal service again, and the log has both.
	if r := e.web(http.MethodPut, "/api/phoenix/state", turnOn); r.status != http.StatusOK || *e.smartHome(lampID).Power != "ON" {
		t.Errorf("after the fault: %d %s", r.status, r.raw)
	}
	var statuses []int
	for _, req := range e.sim.Requests() {
		statuses = append(statuses, req.Status)
	}
	if fmt.Sprint(statuses) != "[429 400 200 200]" {
		t.Errorf("logged statuses %v", statuses)
	}
	for _, body := range []string{
		`[{"path_prefix":"/x","status":200}]`,                           // 200 only with a body
		`[{"path_prefix":"/x","status":199,"body":{}}]`,                 // not a status
		`[{"path_prefix":"/x","status":429,"type":"X","body":{}}]`,      // body excludes type
		`[{"path_prefix":"/x","status":429,"message":"m","body":"s"}]`,  // and message
		`[{"path_prefix":"/x","status":429,"body":{"unterminated":1]}]`, // not JSON
	} {
		if r := e.do(http.MethodPost, "/_sim/faults", "", body); r.status != http.StatusBadRequest || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
}

func TestSmartHomeControlAPI(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	r := e.do(http.MethodPatch, "/_sim/smarthome/"+lampID, "", `{"color":null,"power":"ON"}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.raw), `"name":"Desk Lamp"`) {
		t.Fatalf("PATCH: %d %s", r.status, r.raw)
	}
	if f := e.smartHome(lampID); f.Color != nil || *f.Power != "ON" {
		t.Errorf("after PATCH %+v", f)
	}
	for _, tc := range []struct {
		id, body string
		want     int
	}{
		{lampID, `{"volume":20}`, 400},      // not smart-home state
		{lampID, `{"brightness":101}`, 400}, // out of range
		{lampID, `{"power":"MAYBE"}`, 400},
		{lampID, `[1]`, 400},
		{"nope", `{"power":"ON"}`, 404},
	} {
		if r := e.do(http.MethodPatch, "/_sim/smarthome/"+tc.id, "", tc.body); r.status != tc.want || r.json(t)["error"] == "" {
			t.Errorf("PATCH %s %s: %d %s", tc.id, tc.body, r.status, r.raw)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{`{"smarthome":[{"id":"","name":"A","type":"LIGHT","state":{}}]}`, "id is empty"},
		{`{"smarthome":[{"id":"a","name":"A","type":"LIGHT","state":{}},{"id":"a","name":"B","type":"LIGHT","state":{}}]}`, `duplicate id "a"`},
		{`{"smarthome":[{"id":"a","name":"","type":"LIGHT","state":{}}]}`, "name is empty"},
		{`{"smarthome":[{"id":"a","name":"A","type":"LAMP","state":{}}]}`, `type "LAMP"`},
		{`{"smarthome":[{"id":"a","name":"A","aliases":[""],"type":"LIGHT","state":{}}]}`, "an alias is empty"},
		{`{"smarthome":[{"id":"a","name":"A","type":"PLUG","state":{"volume":3}}]}`, `state keys ["volume"]`},
		{`{"smarthome":[{"id":"a","name":"A","type":"PLUG","state":{"power":"on"}}]}`, `power "on"`},
		{`{"smarthome":[{"id":"a","name":"A","type":"PLUG","state":{"powr":"ON"}}]}`, `unknown field "powr"`},
		{`{"groups":[{"id":"a.b","name":"G","members":[]}]}`, "has a dot"},
		{`{"groups":[{"id":"g","name":"","members":["x"]}]}`, `member "x" is not a smarthome id`},
		{`{"smarthome":[{"id":"a","name":"A","type":"PLUG","state":{}}],"groups":[{"id":"g","name":"G","members":["a","a"]},{"id":"g","name":"H"}]}`, `duplicate member "a"`},
	} {
		r := e.do(http.MethodPut, "/_sim/household", "", tc.body)
		if msg, _ := r.json(t)["error"].(string); r.status != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("PUT %s: %d %s, want %q", tc.body, r.status, r.raw, tc.want)
		}
	}
	if len(e.household().SmartHome) != 4 {
		t.Error("a refused PUT changed the household")
	}
	// A device without a type gets one from its state.
	r = e.do(http.MethodPut, "/_sim/household", "", `{"smarthome":[{"id":"l","name":"L","state":{"power":"ON","brightness":5}},`+
		`{"id":"t","name":"T","state":{"temperature":20}},{"id":"p","name":"P","state":{"power":"OFF"}}]}`)
	var types []string
	for _, d := range e.household().SmartHome {
		types = append(types, d.Type)
	}
	if r.status != http.StatusOK || strings.Join(types, ",") != "LIGHT,TEMPERATURE_SENSOR,PLUG" {
		t.Errorf("default types %v (%d %s)", types, r.status, r.raw)
	}
}
